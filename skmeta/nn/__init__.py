"""Neural building blocks: backbones shared across tasks and task-aware normalisation."""

from ._allocator import keep_cpu_heap
from ._backbones import (
    BACKBONES,
    MLP,
    Conv4,
    TaskBatchNorm,
    carry_statistics,
    has_task_norm,
    image_shape,
    layer_sizes,
    make_backbone,
    make_predictor,
    network_input_shape,
    reference_rows,
    vmap_safe,
)

__all__ = [
    "BACKBONES",
    "MLP",
    "Conv4",
    "TaskBatchNorm",
    "carry_statistics",
    "has_task_norm",
    "image_shape",
    "keep_cpu_heap",
    "layer_sizes",
    "make_backbone",
    "make_predictor",
    "network_input_shape",
    "reference_rows",
    "vmap_safe",
]
