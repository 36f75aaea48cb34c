"""Running a plan on Ray: Tune over the stage DAG (`run`), one trial per stage run,
Ray Train workers for data-parallel stages, the cluster's capacity, progress, job submission."""
