from tests.pipeline.executors.ray_cluster import ray_cluster  # noqa: F401 - the session's Ray cluster fixture
