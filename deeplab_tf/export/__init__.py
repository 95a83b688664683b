"""Export: TF Serving SavedModel, TFLite variants and their parity checks.

  serving      the tf.Module whose signatures are the served API
  serving_inputs  its request checks, header sizes and image decoding
  saved_model  the TF Serving layout, written atomically
  tflite       static-shape, builtin-only TFLite conversion and runner
  parity       exported model vs Keras checks (export_report.json)
  lib          ExportConfig + run_export: what export.py does
"""
