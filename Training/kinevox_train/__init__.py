"""Kinevox training side: dataset build, models, training, evaluation, export, parity fixtures."""
