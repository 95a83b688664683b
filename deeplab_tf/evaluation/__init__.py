"""Evaluation: confusion-matrix metrics, the boundary trimap metric,
visualisation, Cityscapes id conversion and the evaluator loop."""
