#!/usr/bin/env python3
"""The workflow's training command: `python train_llm.py --train_tokens 1000000 --seed 42 --output_dir checkpoints/x`."""

import sys

from trainer.cli import main

if __name__ == "__main__":
    sys.exit(main())
