"""mangacolor-eval's library: score a generator and its baselines on a folder of colour pages.

settings.py   the run's settings, checked, with the training crop found beside the checkpoint
views.py      collated pages -> the RGB images that are scored (centre crops or whole pages)
scoring.py    the metrics of one prediction against the truth, per image
baselines.py  the mean-ab colour of a training folder
extremes.py   the best and worst k images, for the PNG grids
page_loop.py  the loop over the folder, with a progress bar, skipping unreadable pages
report.py     overall means, the printed table, metrics.json, per_image.csv, grids, TensorBoard
evaluate.py   evaluate(settings): one evaluation from its checked settings, start to finish
"""
