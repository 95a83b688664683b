"""The built-in dataset descriptors (sizes and conventions of the reference)."""

from deeplab_tf.data.descriptor import DatasetDescriptor


def bit_colormap(n: int):
  """PASCAL VOC's colour map (bits of the id spread over r, g, b)."""
  colors = []
  for i in range(n):
    r = g = b = 0
    c = i
    for shift in range(7, -1, -1):
      r |= ((c >> 0) & 1) << shift
      g |= ((c >> 1) & 1) << shift
      b |= ((c >> 2) & 1) << shift
      c >>= 3
    colors.append((r, g, b))
  return tuple(colors)


VOC_CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus",
    "car", "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike",
    "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")

CITYSCAPES_CLASS_NAMES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light",
    "traffic sign", "vegetation", "terrain", "sky", "person", "rider", "car",
    "truck", "bus", "train", "motorcycle", "bicycle")

CITYSCAPES_COLORMAP = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156),
    (190, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0),
    (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
    (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100),
    (0, 0, 230), (119, 11, 32))

# Class 0 is "other" (unlabelled), which is also the ignore label.
ADE20K_CLASS_NAMES = (
    "other",
    "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed",
    "windowpane", "grass", "cabinet", "sidewalk", "person", "earth", "door",
    "table", "mountain", "plant", "curtain", "chair", "car", "water",
    "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field",
    "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp",
    "bathtub", "railing", "cushion", "base", "box", "column", "signboard",
    "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case",
    "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill",
    "bench", "countertop", "stove", "palm", "kitchen island", "computer",
    "swivel chair", "boat", "bar", "arcade machine", "hovel", "bus", "towel",
    "light", "truck", "tower", "chandelier", "awning", "streetlight", "booth",
    "television receiver", "airplane", "dirt track", "apparel", "pole",
    "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy",
    "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food",
    "step", "tank", "trade name", "microwave", "pot", "animal", "bicycle",
    "lake", "dishwasher", "screen", "blanket", "sculpture", "hood", "sconce",
    "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen",
    "plate", "monitor", "bulletin board", "shower", "radiator", "glass",
    "clock", "flag",
)

CAMVID_CLASS_NAMES = (
    "sky", "building", "pole", "road", "pavement", "tree", "sign_symbol",
    "fence", "car", "pedestrian", "bicyclist")

# SegNet's CamVid palette (camvid11.png); void (11) is black.
CAMVID_COLORMAP = (
    (128, 128, 128), (128, 0, 0), (192, 192, 128), (128, 64, 128),
    (60, 40, 222), (128, 128, 0), (192, 128, 128), (64, 64, 128),
    (64, 0, 128), (64, 64, 0), (0, 128, 192))

SYNTHETIC_CLASS_NAMES = ("background", "disc", "square", "triangle", "bar")
SYNTHETIC_COLORMAP = ((0, 0, 0), (230, 25, 75), (60, 180, 75),
                      (0, 130, 200), (245, 130, 48))

BUILTIN_DESCRIPTORS = {
    "pascal_voc_seg": DatasetDescriptor(
        name="pascal_voc_seg", num_classes=21, ignore_label=255,
        class_names=VOC_CLASS_NAMES, colormap=bit_colormap(21),
        splits_to_sizes={"train": 1464, "train_aug": 10582,
                         "trainval": 2913, "val": 1449},
        ignore_color=(224, 224, 192)),
    "cityscapes": DatasetDescriptor(
        name="cityscapes", num_classes=19, ignore_label=255,
        class_names=CITYSCAPES_CLASS_NAMES, colormap=CITYSCAPES_COLORMAP,
        splits_to_sizes={"train_fine": 2975, "val_fine": 500,
                         "test_fine": 1525, "train_coarse": 22973},
        ignore_color=(0, 0, 0)),
    "ade20k": DatasetDescriptor(
        name="ade20k", num_classes=151, ignore_label=0,
        class_names=ADE20K_CLASS_NAMES, colormap=bit_colormap(151),
        splits_to_sizes={"train": 20210, "val": 2000}),
    "camvid": DatasetDescriptor(
        name="camvid", num_classes=11, ignore_label=11,
        class_names=CAMVID_CLASS_NAMES, colormap=CAMVID_COLORMAP,
        splits_to_sizes={"train": 367, "val": 101, "test": 233},
        ignore_color=(0, 0, 0)),
    "synthetic": DatasetDescriptor(
        name="synthetic", num_classes=5, ignore_label=255,
        class_names=SYNTHETIC_CLASS_NAMES, colormap=SYNTHETIC_COLORMAP,
        splits_to_sizes={"train": 64, "val": 16},
        ignore_color=(255, 255, 255)),
}
