"""Exporters: plugins on the research hooks (`research_harness.hookspec`) that copy what a
study produced to another system. `mlflow_exporter.MlflowExporter` is registered by
`--research-mlflow`. Nothing here is imported unless an exporter is asked for."""
