"""Training: config, loss, learning-rate schedules, tf.distribute set-up,
checkpoint initialisation / resume, summaries and the custom loop."""
