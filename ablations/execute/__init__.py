"""Running a plan on Ray: the driver (Tune over the stage DAG), one trial per stage run,
Ray Train workers for data-parallel stages, the cluster's capacity, progress, job submission."""
