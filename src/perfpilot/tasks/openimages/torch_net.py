"""MLPerf RetinaNet (ResNeXt50-32x4d FPN, 264 OpenImages classes) as perfpilot's own torch
modules, for the ``retinanet-pytorch`` artifact.

The network is the one of the MLCommons training reference (``single_stage_detector/ssd``,
``retinanet_from_backbone("resnext50_32x4d", 264, image_size=[800, 800])``) that the
inference reference runs as its ``retinanet-pytorch`` profile. Its modules carry the same
names, so the reference's ``model.state_dict()`` loads as it is:

- ``backbone.body.*``: TorchVision's ResNeXt50-32x4d (frozen batch norm: ``weight``, ``bias``,
  ``running_mean``, ``running_var``; no ``fc``), stages 2-4 returned (C3-C5);
- ``backbone.fpn.inner_blocks.{0,1,2}`` (1x1), ``backbone.fpn.layer_blocks.{0,1,2}`` (3x3),
  ``backbone.fpn.extra_blocks.p6/p7`` (3x3 stride 2 on P5, then on ReLU(P6)): P3-P7, 256
  channels;
- ``head.classification_head.conv.{0,2,4,6}`` + ``cls_logits`` and
  ``head.regression_head.conv.{0,2,4,6}`` + ``bbox_reg``: 9 anchors a location.

Inference as the reference: normalise with the ImageNet mean and std, resize to 800 x 800
(bilinear; a no-op for the task's 800 x 800 samples), anchors of sizes (x, int(x*2^1/3),
int(x*2^2/3)) for x in 32..512 and aspect ratios 0.5, 1, 2 (rounded, one size set a level),
per level: sigmoid, scores > 0.05, the best 1000, box decoding (weights 1, dw/dh clamped at
log(1000/16)), clipping to the image; then per-class NMS at IoU 0.5 and the best 300.
Boxes come back as ``xmin, ymin, xmax, ymax`` in the input's pixels, which is what the ONNX
export answers too, so the harness's ``retinanet_responses`` and the COCO mAP read them
unchanged. Depth and widths come from the state dict's shapes, so a test can load a small
one. The official file is not a state dict but a pickled model: see
:func:`read_pickled_retinanet`. Imported only when torch is about to be used.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: What the reference builds: 264 classes, 800 x 800 images, ImageNet normalisation.
NUM_CLASSES = 264
IMAGE_SIZE = (800, 800)
IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)
#: Anchors: three sizes an octave apart at each of P3-P7, three aspect ratios (h / w).
ANCHOR_SIZES: tuple[tuple[int, ...], ...] = tuple(
    (x, int(x * 2 ** (1.0 / 3)), int(x * 2 ** (2.0 / 3))) for x in (32, 64, 128, 256, 512)
)
ASPECT_RATIOS = (0.5, 1.0, 2.0)
ANCHORS_PER_LOCATION = len(ASPECT_RATIOS) * len(ANCHOR_SIZES[0])
#: The reference's detection parameters (RetinaNet.__init__ defaults).
SCORE_THRESH = 0.05
NMS_THRESH = 0.5
DETECTIONS_PER_IMAGE = 300
TOPK_CANDIDATES = 1000
BBOX_XFORM_CLIP = math.log(1000.0 / 16)
FROZEN_BN_EPS = 1e-5  # torchvision's FrozenBatchNorm2d default
#: ResNeXt50-32x4d: bottlenecks a stage, the stride of each stage's first block.
RESNEXT50_BLOCKS = (3, 4, 6, 3)
STAGE_STRIDES = (1, 2, 2, 2)
EXPANSION = 4
HEAD_CONVS = 4


class FrozenBatchNorm2d(nn.Module):
    """Batch norm with fixed statistics and affine terms, as torchvision's (no counter)."""

    weight: torch.Tensor
    bias: torch.Tensor
    running_mean: torch.Tensor
    running_var: torch.Tensor

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("weight", torch.ones(channels))
        self.register_buffer("bias", torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.weight * (self.running_var + FROZEN_BN_EPS).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


class Bottleneck(nn.Module):
    """TorchVision's bottleneck: 1x1, grouped 3x3 (strided, v1.5), 1x1, with the shortcut
    projected (``downsample.0`` conv, ``downsample.1`` norm) when it must be."""

    def __init__(self, cin: int, width: int, out: int, groups: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = FrozenBatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = FrozenBatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = FrozenBatchNorm2d(out)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, out, 1, stride=stride, bias=False), FrozenBatchNorm2d(out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        short = x if self.downsample is None else self.downsample(x)
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        return F.relu(self.bn3(self.conv3(y)) + short)


@dataclass(frozen=True)
class RetinaNetShape:
    """What a RetinaNet state dict's shapes say about its network."""

    stem: int
    widths: tuple[int, ...]  # each stage's grouped 3x3 width (ResNeXt50-32x4d: 128..1024)
    outs: tuple[int, ...]  # each stage's output channels (256..2048)
    blocks: tuple[int, ...]
    groups: int
    fpn: int  # FPN and head channels (256)
    classes: int

    def build(self) -> RetinaNet:
        return RetinaNet(self)

    def describe(self) -> str:
        return (
            f"RetinaNet: {'-'.join(map(str, self.blocks))} bottlenecks, {self.groups} groups, "
            f"FPN {self.fpn} channels, {self.classes} classes"
        )


#: The official network's shape (ResNeXt50-32x4d, FPN 256, 264 classes).
RESNEXT50_SHAPE = RetinaNetShape(
    stem=64,
    widths=(128, 256, 512, 1024),
    outs=(256, 512, 1024, 2048),
    blocks=RESNEXT50_BLOCKS,
    groups=32,
    fpn=256,
    classes=NUM_CLASSES,
)


class Body(nn.Module):
    """The ResNeXt trunk without its classifier; answers C3, C4, C5 (stages 2-4)."""

    def __init__(self, shape: RetinaNetShape) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, shape.stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = FrozenBatchNorm2d(shape.stem)
        cin = shape.stem
        for number, (width, out, count, stride) in enumerate(
            zip(shape.widths, shape.outs, shape.blocks, STAGE_STRIDES, strict=True), 1
        ):
            layer = []
            for i in range(count):
                layer.append(Bottleneck(cin, width, out, shape.groups, stride if i == 0 else 1))
                cin = out
            setattr(self, f"layer{number}", nn.Sequential(*layer))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), kernel_size=3, stride=2, padding=1)
        found = []
        for number in range(1, len(STAGE_STRIDES) + 1):
            x = getattr(self, f"layer{number}")(x)
            if number >= 2:
                found.append(x)
        return found


class LastLevelP6P7(nn.Module):
    """P6 = conv(P5) (stride 2), P7 = conv(ReLU(P6)) (stride 2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(channels, channels, 3, 2, 1)
        self.p7 = nn.Conv2d(channels, channels, 3, 2, 1)

    def forward(self, p5: torch.Tensor) -> list[torch.Tensor]:
        p6 = self.p6(p5)
        return [p6, self.p7(F.relu(p6))]


class FeaturePyramid(nn.Module):
    """Top-down FPN over C3-C5 (nearest upsampling), plus P6 and P7."""

    def __init__(self, in_channels: tuple[int, ...], channels: int) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.layer_blocks = nn.ModuleList(
            nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels
        )
        self.extra_blocks = LastLevelP6P7(channels)

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        last = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last)]
        for idx in range(len(feats) - 2, -1, -1):
            lateral = self.inner_blocks[idx](feats[idx])
            last = lateral + F.interpolate(last, size=lateral.shape[-2:], mode="nearest")
            results.insert(0, self.layer_blocks[idx](last))
        extra: list[torch.Tensor] = self.extra_blocks(results[-1])
        return results + extra


class Backbone(nn.Module):
    def __init__(self, shape: RetinaNetShape) -> None:
        super().__init__()
        self.body = Body(shape)
        self.fpn = FeaturePyramid(shape.outs[1:], shape.fpn)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out: list[torch.Tensor] = self.fpn(self.body(x))
        return out


class _Tower(nn.Module):
    """Four 3x3 conv + ReLU, then the predictor; answers ``[N, H*W*A, per_anchor]`` a level,
    concatenated over the levels (anchor-major within a location, as the anchors)."""

    def __init__(self, channels: int, per_anchor: int, predictor: str) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(HEAD_CONVS):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        self.conv = nn.Sequential(*layers)
        self.per_anchor = per_anchor
        self.predictor = predictor
        setattr(self, predictor, nn.Conv2d(channels, ANCHORS_PER_LOCATION * per_anchor, 3, 1, 1))

    def forward(self, feats: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        predict = getattr(self, self.predictor)
        for f in feats:
            y = predict(self.conv(f))
            n, _, h, w = y.shape
            y = y.view(n, -1, self.per_anchor, h, w).permute(0, 3, 4, 1, 2)
            out.append(y.reshape(n, -1, self.per_anchor))
        return out


class Head(nn.Module):
    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.classification_head = _Tower(channels, classes, "cls_logits")
        self.regression_head = _Tower(channels, 4, "bbox_reg")


Detection = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


class RetinaNet(nn.Module):
    """``forward(images [1, 3, H, W] in [0, 1])`` -> ``(boxes [K, 4], labels [K] int64,
    scores [K])``, best first; :meth:`detect` takes any batch."""

    def __init__(self, shape: RetinaNetShape) -> None:
        super().__init__()
        self.shape = shape
        self.backbone = Backbone(shape)
        self.head = Head(shape.fpn, shape.classes)
        self._anchors: dict[tuple[object, ...], list[torch.Tensor]] = {}

    def forward(self, images: torch.Tensor) -> Detection:
        if images.dim() != 4 or images.shape[0] != 1:
            raise ValueError(
                f"RetinaNet.forward takes one image [1, 3, H, W], got {tuple(images.shape)}; "
                "use detect() for a batch"
            )
        return self.detect(images)[0]

    def arrange_feeds(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray] | None:
        """``forward``'s argument from named feeds: one image, whatever its name."""
        return list(feeds.values()) if len(feeds) == 1 else None

    def detect(self, images: torch.Tensor) -> list[Detection]:
        """Detections for each image of ``images`` ``[N, 3, H, W]`` (float, 0-1)."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"RetinaNet takes images [N, 3, H, W], got {tuple(images.shape)}")
        original = (int(images.shape[-2]), int(images.shape[-1]))
        mean = torch.tensor(IMAGE_MEAN, dtype=images.dtype, device=images.device)
        std = torch.tensor(IMAGE_STD, dtype=images.dtype, device=images.device)
        x = (images - mean[:, None, None]) / std[:, None, None]
        if original != IMAGE_SIZE:
            x = F.interpolate(x, size=IMAGE_SIZE, mode="bilinear", align_corners=False)
        feats = self.backbone(x)
        logits = self.head.classification_head(feats)
        deltas = self.head.regression_head(feats)
        anchors = self.anchors(IMAGE_SIZE, [tuple(f.shape[-2:]) for f in feats], x)
        found = []
        for i in range(x.shape[0]):
            boxes, labels, scores = postprocess(
                [lg[i] for lg in logits], [d[i] for d in deltas], anchors, IMAGE_SIZE
            )
            if original != IMAGE_SIZE:  # back to the caller's pixels, as the reference
                ratio = torch.tensor(
                    [original[1] / IMAGE_SIZE[1], original[0] / IMAGE_SIZE[0]] * 2,
                    dtype=boxes.dtype,
                    device=boxes.device,
                )
                boxes = boxes * ratio
            found.append((boxes, labels, scores))
        return found

    def anchors(
        self, image_size: tuple[int, int], grids: list[tuple[int, ...]], like: torch.Tensor
    ) -> list[torch.Tensor]:
        """Each level's anchors (cached: they depend on sizes, dtype and device only)."""
        key = (image_size, tuple(grids), like.dtype, like.device)
        if key not in self._anchors:
            self._anchors[key] = [
                a.to(dtype=like.dtype, device=like.device) for a in grid_anchors(image_size, grids)
            ]
        return self._anchors[key]


# --- anchors, box decoding, NMS -------------------------------------------------------


def cell_anchors(sizes: tuple[int, ...], ratios: tuple[float, ...] = ASPECT_RATIOS) -> torch.Tensor:
    """Zero-centred anchors ``[len(ratios) * len(sizes), 4]`` (x1, y1, x2, y2), ratio-major,
    rounded; aspect ratio = height / width."""
    scales = torch.as_tensor(sizes, dtype=torch.float32)
    h_ratios = torch.sqrt(torch.as_tensor(ratios, dtype=torch.float32))
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * scales[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * scales[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def grid_anchors(
    image_size: tuple[int, int],
    grids: list[tuple[int, ...]],
    sizes: tuple[tuple[int, ...], ...] = ANCHOR_SIZES,
) -> list[torch.Tensor]:
    """For each level, the cell anchors placed at every location ``(y, x) * stride``
    (stride = image size // grid size), location-major: ``[H * W * A, 4]``."""
    if len(grids) != len(sizes):
        raise ValueError(f"{len(grids)} feature levels but anchor sizes for {len(sizes)}")
    out = []
    for (gh, gw), level_sizes in zip(grids, sizes, strict=True):
        sy, sx = image_size[0] // gh, image_size[1] // gw
        ys = torch.arange(gh, dtype=torch.float32) * sy
        xs = torch.arange(gw, dtype=torch.float32) * sx
        yy, xx = torch.meshgrid(ys, xs, indexing="ij")
        xx, yy = xx.reshape(-1), yy.reshape(-1)
        shifts = torch.stack((xx, yy, xx, yy), dim=1)
        out.append((shifts[:, None, :] + cell_anchors(level_sizes)[None, :, :]).reshape(-1, 4))
    return out


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Boxes from regression deltas ``(dx, dy, dw, dh)`` (weights 1) relative to
    ``anchors`` (x1, y1, x2, y2); dw and dh clamped at log(1000 / 16)."""
    anchors = anchors.to(deltas.dtype)
    widths = anchors[:, 2] - anchors[:, 0]
    heights = anchors[:, 3] - anchors[:, 1]
    ctr_x = anchors[:, 0] + 0.5 * widths
    ctr_y = anchors[:, 1] + 0.5 * heights
    dw = torch.clamp(deltas[:, 2], max=BBOX_XFORM_CLIP)
    dh = torch.clamp(deltas[:, 3], max=BBOX_XFORM_CLIP)
    cx = deltas[:, 0] * widths + ctr_x
    cy = deltas[:, 1] * heights + ctr_y
    half_w = 0.5 * torch.exp(dw) * widths
    half_h = 0.5 * torch.exp(dh) * heights
    return torch.stack((cx - half_w, cy - half_h, cx + half_w, cy + half_h), dim=1)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of every box of ``a`` [..., N, 4] with every box of ``b`` [..., M, 4] ->
    [..., N, M] (x1, y1, x2, y2 boxes; leading axes are batch axes)."""
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    lt = torch.max(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.min(a[..., :, None, 2:], b[..., None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy NMS: indices of the boxes kept, by decreasing score; a box is dropped when a
    kept, higher-scoring box overlaps it with IoU > ``iou_threshold``."""
    labels = torch.zeros(len(scores), dtype=torch.int64, device=scores.device)
    return batched_nms(boxes, scores, labels, iou_threshold)


def batched_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    labels: torch.Tensor,
    iou_threshold: float,
    limit: int | None = None,
) -> torch.Tensor:
    """NMS within each label, never across: indices kept, by decreasing score, the first
    ``limit`` of them when given.

    Boxes are visited best first; a box not yet dropped is kept and drops the lower boxes
    of its label it overlaps. A box's fate depends only on better boxes, so stopping at
    ``limit`` kept gives the first ``limit`` of the full answer (the reference keeps the
    best 300 after a full NMS). Runs on the CPU: the walk tests one flag a box, which on a
    GPU would be a synchronisation each."""
    device = boxes.device
    n = len(scores)
    order = torch.sort(scores.cpu(), descending=True, stable=True).indices
    ranked = boxes.cpu()[order]
    ranked_labels = labels.cpu()[order]
    areas = (ranked[:, 2] - ranked[:, 0]) * (ranked[:, 3] - ranked[:, 1])
    dropped = torch.zeros(n, dtype=torch.bool)
    flags = dropped.numpy()  # the same memory: reads cost no tensor operation
    kept: list[int] = []
    for i in range(n):
        if flags[i]:
            continue
        kept.append(i)
        if limit is not None and len(kept) >= limit:
            break
        rest = ranked[i + 1 :]
        lt = torch.max(rest[:, :2], ranked[i, :2])
        rb = torch.min(rest[:, 2:], ranked[i, 2:])
        wh = (rb - lt).clamp(min=0)
        inter = wh[:, 0] * wh[:, 1]
        iou = inter / (areas[i] + areas[i + 1 :] - inter)
        dropped[i + 1 :] |= (iou > iou_threshold) & (ranked_labels[i + 1 :] == ranked_labels[i])
    return order[torch.tensor(kept, dtype=torch.int64)].to(device)


def postprocess(
    logits: list[torch.Tensor],
    deltas: list[torch.Tensor],
    anchors: list[torch.Tensor],
    image_size: tuple[int, int],
    score_thresh: float = SCORE_THRESH,
    topk: int = TOPK_CANDIDATES,
    nms_thresh: float = NMS_THRESH,
    detections: int = DETECTIONS_PER_IMAGE,
) -> Detection:
    """One image's detections from its per-level class logits ``[HWA, K]``, deltas
    ``[HWA, 4]`` and anchors ``[HWA, 4]``, as the reference's ``postprocess_detections``."""
    all_boxes, all_scores, all_labels = [], [], []
    for level_logits, level_deltas, level_anchors in zip(logits, deltas, anchors, strict=True):
        classes = level_logits.shape[-1]
        # The reference thresholds all H*W*A*K sigmoids (24 M at P3), then takes the best
        # 1000. The sigmoid is monotonic, so the best 1000 logits, thresholded after, are
        # the same detections in the same order, without touching the 24 M twice.
        flat = level_logits.flatten()
        best, candidates = flat.topk(min(topk, flat.numel()))
        scores = torch.sigmoid(best)
        passed = scores > score_thresh
        scores, candidates = scores[passed], candidates[passed]
        anchor_idx = torch.div(candidates, classes, rounding_mode="floor")
        boxes = decode_boxes(level_deltas[anchor_idx], level_anchors[anchor_idx])
        boxes = torch.stack(
            (
                boxes[:, 0].clamp(0, image_size[1]),
                boxes[:, 1].clamp(0, image_size[0]),
                boxes[:, 2].clamp(0, image_size[1]),
                boxes[:, 3].clamp(0, image_size[0]),
            ),
            dim=1,
        )
        all_boxes.append(boxes)
        all_scores.append(scores)
        all_labels.append(candidates % classes)
    boxes, scores, labels = torch.cat(all_boxes), torch.cat(all_scores), torch.cat(all_labels)
    keep = batched_nms(boxes, scores, labels, nms_thresh, limit=detections)
    return boxes[keep], labels[keep], scores[keep]
