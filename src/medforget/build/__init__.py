"""The build's last steps and what ships a dataset: the pipeline that runs every step and writes
the manifest (:mod:`~medforget.build.pipeline`), the Parquet shards (:mod:`~medforget.build.export`),
the dataset and model cards (:mod:`~medforget.build.card`), sharded builds and ``merge``
(:mod:`~medforget.build.parts`), the Hub (:mod:`~medforget.build.publish`) and the published
MedForget layout (:mod:`~medforget.build.paper_layout`)."""
