"""The Ray Data generation job: plan -> prompt -> generate -> score -> write Parquet shards."""
