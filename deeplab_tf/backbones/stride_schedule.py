"""Output stride -> (stride, atrous rate) of every unit, computed once.

The reference (`stack_blocks_dense`, `mobilenet_base`) walks the units in
order; once the running stride reaches the requested output stride, every
further unit runs at stride 1 and its would-be stride multiplies the atrous
rate of the units after it. All backbones share this schedule.
"""


class StrideSchedule:
  """Assigns (stride, rate) to units so the network stops at output_stride."""

  def __init__(self, output_stride: int, initial_stride: int = 1):
    if output_stride % initial_stride:
      raise ValueError("output_stride %d is not a multiple of the stem "
                       "stride %d" % (output_stride, initial_stride))
    self.output_stride = output_stride
    self.current_stride = initial_stride
    self.rate = 1

  def next(self, stride: int):
    """Returns (layer_stride, layer_rate) for a unit of nominal `stride`."""
    if self.current_stride > self.output_stride:
      raise ValueError("output_stride %d cannot be reached"
                       % self.output_stride)
    if self.current_stride == self.output_stride:
      rate = self.rate
      self.rate *= stride
      return 1, rate
    self.current_stride *= stride
    return stride, 1

  def finish(self):
    if self.current_stride != self.output_stride:
      raise ValueError("output_stride %d cannot be reached (the backbone "
                       "stops at %d)" % (self.output_stride,
                                         self.current_stride))
