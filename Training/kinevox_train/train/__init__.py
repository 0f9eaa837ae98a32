"""Training stages, one command each: rvq, generator (audio encoder + masked transformer + length estimator), residual."""
