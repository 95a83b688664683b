"""The authors' model zoo as data: one `ZooEntry` per published checkpoint.

Facts are copied from research/deeplab/g3doc/model_zoo.md (tensorflow/models;
the version read is commit d318246cb2): tarball names, backbones, the eval
rows (output stride, scales, flip, Multiply-Adds, mIoU) and file sizes.
MobileNetV2 ImageNet checkpoints are the ones that page refers to, slim's
(research/slim/nets/mobilenet/README.md). Model flags are the zoo's tables
and its training pages (VOC / Cityscapes / ADE20K crops 513 / 1025x2049 /
513, ADE20K MobileNetV2 257).

Checkpoints whose architecture deeplab_tf does not build are listed with the
reason (`refused`) and are never downloaded or half-loaded.
"""

import dataclasses
from typing import Dict, Optional, Tuple

from deeplab_tf.config import ModelOptions

DEEPLAB_BASE_URL = "http://download.tensorflow.org/models/"
SLIM_MOBILENET_V2_BASE_URL = (
    "https://storage.googleapis.com/mobilenet_v2/checkpoints/")

MODEL = "model"          # a trained segmentation model (loads strictly)
BACKBONE = "backbone"    # an ImageNet checkpoint (backbone_only semantics)

# Eval scales as the zoo writes them ([start:step:stop], inclusive).
SINGLE = (1.0,)
VOC_SCALES = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75)         # [0.5:0.25:1.75]
CITYSCAPES_SCALES = (0.75, 1.0, 1.25)                  # [0.75:0.25:1.25]
DPC_TRAINVAL_SCALES = (0.75, 1.0, 1.25, 1.5, 1.75, 2.0)  # [0.75:0.25:2]


@dataclasses.dataclass(frozen=True)
class EvalRow:
  """One published evaluation of a checkpoint (a row of the zoo table)."""
  output_stride: int
  scales: Tuple[float, ...]
  flip: Optional[bool]            # None: the table has no flip column
  multiply_adds: Optional[str]    # as published, e.g. "54.17B"; None: '-'
  miou: str                       # as published, e.g. "82.20% (val)"
  pixel_accuracy: Optional[str] = None


@dataclasses.dataclass(frozen=True)
class ZooEntry:
  """A model-zoo checkpoint.

  Attributes:
    name: the zoo table's checkpoint name (lookup key).
    dataset: built-in dataset of the logits ('pascal_voc_seg', 'cityscapes',
      'ade20k') or 'imagenet' for backbone checkpoints.
    kind: MODEL or BACKBONE.
    tarball: the file name under the base URL (kept with a mirror).
    base_url: where the authors publish it.
    backbone: human-readable network backbone.
    pretrained: what it was trained on, as the zoo lists it.
    options: ModelOptions reproducing it (at its training output stride);
      for a backbone, the head it is fine-tuned with (initialised, not
      loaded). None for refused entries.
    eval_rows: the published evaluations.
    size: published file size ('' where none is published).
    refused: why deeplab_tf cannot load it ('' if it can).
    notes: anything else a user must know.
    crop: its training crop where it is not its dataset's (DATASET_CROPS).
  """
  name: str
  dataset: str
  kind: str
  tarball: str
  base_url: str
  backbone: str
  pretrained: str
  options: Optional[ModelOptions]
  eval_rows: Tuple[EvalRow, ...] = ()
  size: str = ""
  refused: str = ""
  notes: str = ""
  crop: Optional[Tuple[int, int]] = None

  @property
  def crop_size(self) -> Tuple[int, int]:
    """The training crop: the zoo's for its dataset, unless it says."""
    return self.crop or DATASET_CROPS[self.dataset]

  @property
  def url(self) -> str:
    return self.base_url + self.tarball

  @property
  def num_classes(self) -> Optional[int]:
    return self.options.num_classes if self.options else None


# ---------------------------------------------------------- model configs
def _mobilenet(num_classes, depth_multiplier=1.0, divisible_by=None,
               decoder=None):
  """The zoo's MobileNetV2 DeepLab: no atrous ASPP branches (image pooling,
  1x1 and projection only), decoder only where the zoo says so."""
  return ModelOptions(model_variant="mobilenet_v2", num_classes=num_classes,
                      output_stride=16, atrous_rates=None,
                      decoder_output_stride=decoder,
                      depth_multiplier=depth_multiplier,
                      divisible_by=divisible_by)


def _xception(num_classes, variant="xception_65"):
  """The paper's DeepLabv3+: OS16, rates 6/12/18, decoder at 4, separable
  ASPP and decoder."""
  return ModelOptions(model_variant=variant, num_classes=num_classes,
                      output_stride=16, atrous_rates=(6, 12, 18),
                      decoder_output_stride=4)


def _resnet(variant):
  """ResNet-beta with the reference's non-separable ASPP and decoder."""
  return ModelOptions(model_variant=variant, num_classes=21,
                      output_stride=16, atrous_rates=(6, 12, 18),
                      decoder_output_stride=4,
                      aspp_with_separable_conv=False,
                      decoder_use_separable_conv=False)


VOC, CITY, ADE = (513, 513), (1025, 2049), (513, 513)
# The zoo's training crops; a backbone's is the VOC head's it comes with.
DATASET_CROPS = {"pascal_voc_seg": VOC, "cityscapes": CITY, "ade20k": ADE,
                 "imagenet": VOC}
_TRAINVAL_NOTE = ("trained on train_aug + trainval and evaluated on the test "
                  "server; its training output stride is not published, "
                  "load_model defaults to 16 (output_stride=8 is the zoo's "
                  "eval row)")
_BACKBONE_NOTE = ("ImageNet backbone: only the backbone is loaded; the head "
                  "(the paper's VOC head, 21 classes) is freshly initialised "
                  "for fine-tuning")


def _voc():
  return [
      ZooEntry("mobilenetv2_dm05_coco_voc_trainaug", "pascal_voc_seg", MODEL,
               "deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v2 (depth multiplier 0.5)",
               "ImageNet, MS-COCO, VOC 2012 train_aug",
               _mobilenet(21, depth_multiplier=0.5),
               (EvalRow(16, SINGLE, False, "0.88B", "70.19% (val)"),),
               "7.6MB"),
      ZooEntry("mobilenetv2_dm05_coco_voc_trainval", "pascal_voc_seg", MODEL,
               "deeplabv3_mnv2_dm05_pascal_trainval_2018_10_01.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v2 (depth multiplier 0.5)",
               "ImageNet, MS-COCO, VOC 2012 train_aug + trainval",
               _mobilenet(21, depth_multiplier=0.5),
               (EvalRow(8, SINGLE, False, "2.84B", "71.83% (test)"),),
               "7.6MB", notes=_TRAINVAL_NOTE),
      ZooEntry("mobilenetv2_coco_voc_trainaug", "pascal_voc_seg", MODEL,
               "deeplabv3_mnv2_pascal_train_aug_2018_01_29.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v2",
               "ImageNet, MS-COCO, VOC 2012 train_aug", _mobilenet(21),
               (EvalRow(16, SINGLE, False, "2.75B", "75.32% (val)"),
                EvalRow(8, VOC_SCALES, True, "152.59B", "77.33% (val)")),
               "23MB"),
      ZooEntry("mobilenetv2_coco_voc_trainval", "pascal_voc_seg", MODEL,
               "deeplabv3_mnv2_pascal_trainval_2018_01_29.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v2",
               "ImageNet, MS-COCO, VOC 2012 train_aug + trainval",
               _mobilenet(21),
               (EvalRow(8, VOC_SCALES, True, "152.59B", "80.25% (test)"),),
               "23MB", notes=_TRAINVAL_NOTE),
      ZooEntry("xception65_coco_voc_trainaug", "pascal_voc_seg", MODEL,
               "deeplabv3_pascal_train_aug_2018_01_04.tar.gz",
               DEEPLAB_BASE_URL, "Xception-65",
               "ImageNet, MS-COCO, VOC 2012 train_aug", _xception(21),
               (EvalRow(16, SINGLE, False, "54.17B", "82.20% (val)"),
                EvalRow(8, VOC_SCALES, True, "3055.35B", "83.58% (val)")),
               "439MB"),
      ZooEntry("xception65_coco_voc_trainval", "pascal_voc_seg", MODEL,
               "deeplabv3_pascal_trainval_2018_01_04.tar.gz",
               DEEPLAB_BASE_URL, "Xception-65",
               "ImageNet, MS-COCO, VOC 2012 train_aug + trainval",
               _xception(21),
               (EvalRow(8, VOC_SCALES, True, "3055.35B", "87.80% (test)"),),
               "439MB", notes=_TRAINVAL_NOTE),
  ]


_MNV3 = ("MobileNet-v3 (mobilenet_v3_{}_seg) with squeeze-and-excitation "
         "ASPP, sum-merge decoder and decoder logits is not built by "
         "deeplab_tf")
_DPC = ("the Dense Prediction Cell head (dense_prediction_cell_json) is not "
        "built by deeplab_tf, and its ASPP variables would have no home")
_EDGETPU = ("the EdgeTPU-MobileNet backbone (model_variant="
            "mobilenet_edgetpu) is not built by deeplab_tf")


def _cityscapes():
  return [
      ZooEntry("mobilenetv2_coco_cityscapes_trainfine", "cityscapes", MODEL,
               "deeplabv3_mnv2_cityscapes_train_2018_02_05.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v2",
               "ImageNet, MS-COCO, Cityscapes train_fine",
               _mobilenet(19),
               (EvalRow(16, SINGLE, False, "21.27B", "70.71% (val)"),
                EvalRow(8, CITYSCAPES_SCALES, True, "433.24B",
                        "73.57% (val)")),
               "23MB"),
      ZooEntry("mobilenetv3_large_cityscapes_trainfine", "cityscapes", MODEL,
               "deeplab_mnv3_large_cityscapes_trainfine_2019_11_15.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v3 Large",
               "Cityscapes train_fine (no ImageNet)", None,
               (EvalRow(32, SINGLE, False, "15.95B", "72.41% (val)"),),
               "17MB", refused=_MNV3.format("large")),
      ZooEntry("mobilenetv3_small_cityscapes_trainfine", "cityscapes", MODEL,
               "deeplab_mnv3_small_cityscapes_trainfine_2019_11_15.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v3 Small",
               "Cityscapes train_fine (no ImageNet)", None,
               (EvalRow(32, SINGLE, False, "4.63B", "68.99% (val)"),),
               "5MB", refused=_MNV3.format("small")),
      ZooEntry("xception65_cityscapes_trainfine", "cityscapes", MODEL,
               "deeplabv3_cityscapes_train_2018_02_06.tar.gz",
               DEEPLAB_BASE_URL, "Xception-65",
               "ImageNet, Cityscapes train_fine", _xception(19),
               (EvalRow(16, SINGLE, False, "418.64B", "78.79% (val)"),
                EvalRow(8, CITYSCAPES_SCALES, True, "8677.92B",
                        "80.42% (val)")),
               "439MB"),
      ZooEntry("xception71_dpc_cityscapes_trainfine", "cityscapes", MODEL,
               "deeplab_cityscapes_xception71_trainfine_2018_09_08.tar.gz",
               DEEPLAB_BASE_URL, "Xception-71 + DPC",
               "ImageNet, MS-COCO, Cityscapes train_fine", None,
               (EvalRow(16, SINGLE, False, "502.07B", "80.31% (val)"),),
               "445MB", refused=_DPC),
      ZooEntry("xception71_dpc_cityscapes_trainval", "cityscapes", MODEL,
               "deeplab_cityscapes_xception71_trainvalfine_2018_09_08.tar.gz",
               DEEPLAB_BASE_URL, "Xception-71 + DPC",
               "ImageNet, MS-COCO, Cityscapes trainval_fine and coarse", None,
               (EvalRow(8, DPC_TRAINVAL_SCALES, True, None,
                        "82.66% (test)"),),
               "446MB", refused=_DPC),
      ZooEntry("edgetpu_deeplab", "cityscapes", MODEL,
               "edgetpu-deeplab_2020_03_09.tar.gz", DEEPLAB_BASE_URL,
               "EdgeMobilenet-1.0", "ImageNet", None,
               (EvalRow(32, SINGLE, None, "5.6B", "70.6% (val)"),
                EvalRow(16, SINGLE, None, "7.1B", "74.1% (val)")),
               refused=_EDGETPU, notes="the zoo's EdgeTPU-DeepLab"),
      ZooEntry("edgetpu_deeplab_slim", "cityscapes", MODEL,
               "edgetpu-deeplab-slim_2020_03_09.tar.gz", DEEPLAB_BASE_URL,
               "EdgeMobilenet-0.75", "ImageNet", None,
               (EvalRow(32, SINGLE, None, "3.5B", "70.0% (val)"),
                EvalRow(16, SINGLE, None, "4.3B", "73.2% (val)")),
               refused=_EDGETPU, notes="the zoo's EdgeTPU-DeepLab-slim"),
  ]


def _ade20k():
  return [
      ZooEntry("mobilenetv2_ade20k_train", "ade20k", MODEL,
               "deeplabv3_mnv2_ade20k_train_2018_12_03.tar.gz",
               DEEPLAB_BASE_URL, "MobileNet-v2",
               "ImageNet, ADE20K training set",
               _mobilenet(151, decoder=4),
               (EvalRow(16, SINGLE, False, None, "32.04% (val)",
                        "75.41% (val)"),),
               "24.8MB", crop=(257, 257),
               notes="the zoo resizes inputs so that the longest side is "
               "257; resize images before inference to match"),
      ZooEntry("xception65_ade20k_train", "ade20k", MODEL,
               "deeplabv3_xception_ade20k_train_2018_05_29.tar.gz",
               DEEPLAB_BASE_URL, "Xception-65",
               "ImageNet, ADE20K training set", _xception(151),
               (EvalRow(8, VOC_SCALES, True, None, "45.65% (val)",
                        "82.52% (val)"),),
               "439MB", notes="the zoo resizes inputs so that the longest "
               "side is 513; resize images before inference to match"),
  ]


def _imagenet():
  def backbone(name, tarball, label, options, size, base=DEEPLAB_BASE_URL,
               pretrained="ImageNet", notes=_BACKBONE_NOTE):
    return ZooEntry(name, "imagenet", BACKBONE, tarball, base, label,
                    pretrained, options, (), size, notes=notes)
  mobilenet_note = _BACKBONE_NOTE.replace(
      "the paper's VOC head, 21 classes", "the zoo's MobileNet-v2 VOC head, "
      "21 classes") + "; slim's checkpoint (top-1 %s%%)"
  return [
      backbone("xception_41_imagenet", "xception_41_2018_05_09.tar.gz",
               "Xception-41", _xception(21, "xception_41"), "288MB"),
      backbone("xception_65_imagenet", "deeplabv3_xception_2018_01_04.tar.gz",
               "Xception-65", _xception(21), "447MB"),
      backbone("xception_65_imagenet_coco",
               "xception_65_coco_pretrained_2018_10_02.tar.gz", "Xception-65",
               _xception(21), "292MB", pretrained="ImageNet, MS-COCO"),
      backbone("xception_71_imagenet", "xception_71_2018_05_09.tar.gz",
               "Xception-71", _xception(21, "xception_71"), "474MB"),
      backbone("resnet_v1_50_beta_imagenet", "resnet_v1_50_2018_05_04.tar.gz",
               "ResNet-v1-50 beta", _resnet("resnet_v1_50_beta"), "274MB"),
      backbone("resnet_v1_101_beta_imagenet",
               "resnet_v1_101_2018_05_04.tar.gz", "ResNet-v1-101 beta",
               _resnet("resnet_v1_101_beta"), "477MB"),
      # slim trains MobileNetV2 with channels divisible by 8 at every width.
      backbone("mobilenet_v2_imagenet", "mobilenet_v2_1.0_224.tgz",
               "MobileNet-v2 1.0", _mobilenet(21), "",
               base=SLIM_MOBILENET_V2_BASE_URL,
               notes=mobilenet_note % "71.8"),
      backbone("mobilenet_v2_dm05_imagenet", "mobilenet_v2_0.5_224.tgz",
               "MobileNet-v2 0.5",
               _mobilenet(21, depth_multiplier=0.5, divisible_by=8), "",
               base=SLIM_MOBILENET_V2_BASE_URL,
               notes=mobilenet_note % "65.4"),
  ]


DATASET_ORDER = ("pascal_voc_seg", "cityscapes", "ade20k", "imagenet")
REGISTRY: Dict[str, ZooEntry] = {
    e.name: e for e in _voc() + _cityscapes() + _ade20k() + _imagenet()}


def normalize_name(name: str) -> str:
  """Lookup key: case-insensitive, '-' and '_' alike (EdgeTPU-DeepLab)."""
  return name.strip().lower().replace("-", "_")
