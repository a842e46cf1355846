"""Drawing code for the demo split: tabletop backgrounds, objects and articulated hands.

Everything draws into float32 RGB canvases ``[H, W, 3]`` with values in [0, 255].
Coordinates are continuous pixels: pixel ``i`` spans ``[i, i + 1)``, so a point
``(x, y)`` normalizes to ``(x / W, y / H)``, the convention of the hand keypoints.

Hands follow MediaPipe's 21-joint order (0 wrist; 1-4 thumb CMC, MCP, IP, TIP;
5-8 index MCP, PIP, DIP, TIP; 9-12 middle; 13-16 ring; 17-20 pinky) and are seen from
the back, as in egocentric footage. The MediaPipe palm detector needs a filled palm to
find a hand (see DESIGN.md, "The demo split"), so the palm is an opaque polygon and the
fingers are tapered capsules on top of it, shaded from a height map.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Fixed-point bits for sub-pixel cv2 drawing.
_SHIFT = 4
_ONE = 1 << _SHIFT
# Render hands this many times larger, then area-downsample: smooth edges.
_SUPERSAMPLE = 2

# ---------------------------------------------------------------------------------
# Hand geometry, in "hand units" (1 = palm width), right hand seen from the back with
# the fingers pointing up (-y): the thumb is on the left (-x). Left hand = mirror in x.
# ---------------------------------------------------------------------------------
_FINGER_MCP = np.array([(-0.37, -1.00), (-0.12, -1.05), (0.13, -1.00), (0.36, -0.88)])
_FINGER_LENGTHS = np.array([(0.45, 0.27, 0.22), (0.50, 0.31, 0.24), (0.46, 0.29, 0.23), (0.36, 0.22, 0.20)])
_FINGER_ANGLE = np.array([-0.10, 0.0, 0.09, 0.20])  # open-hand splay from "up", + toward the pinky
_FINGER_WIDTH = np.array([(0.25, 0.19), (0.26, 0.20), (0.24, 0.18), (0.21, 0.16)])  # (base, tip)
_FLEX = np.array([0.95, 1.25, 0.70])  # MCP, PIP, DIP flexion (rad) at grasp = 1
_THUMB_CMC = np.array([-0.30, -0.26])
_THUMB_LENGTHS = np.array([0.42, 0.33, 0.28])
_THUMB_WIDTH = (0.33, 0.23)
_PALM_OUTLINE = np.array(
    [(-0.40, 0.08), (-0.47, -0.35), (-0.50, -0.98), (-0.37, -1.09), (-0.12, -1.14), (0.13, -1.09),
     (0.36, -0.97), (0.47, -0.84), (0.44, -0.30), (0.38, 0.08)]
)
_FOREARM = np.array([(-0.40, 0.0), (-0.52, 6.0), (0.52, 6.0), (0.38, 0.0)])
_SLEEVE_START = 1.4  # sleeve cuff distance below the wrist, hand units

SKIN_TONES = np.array(
    [(232, 190, 160), (224, 172, 138), (205, 150, 115), (180, 124, 92), (150, 100, 72), (112, 74, 54)], dtype=np.float32
)


@dataclass
class HandPose:
    """An articulated hand pose, enough to place the 21 joints.

    Attributes:
        x: Wrist x, continuous pixels.
        y: Wrist y, continuous pixels.
        scale: Palm width in pixels.
        rotation: Radians; 0 = fingers up, positive = clockwise on screen.
        grasp: 0 = open flat hand, 1 = closed fist (fingers curl away from the camera).
        spread: Finger splay factor; 1 = relaxed, 0 = fingers together.
        is_right: The person's right hand (thumb on the left when seen from the back).
    """

    x: float
    y: float
    scale: float
    rotation: float = 0.0
    grasp: float = 0.2
    spread: float = 1.0
    is_right: bool = True

    def direction(self) -> np.ndarray:
        """Unit vector, float ``[2]``, from the wrist toward the fingers."""
        return np.array([np.sin(self.rotation), -np.cos(self.rotation)])

    def to_pixels(self, local: np.ndarray) -> np.ndarray:
        """Map hand-unit points ``[N, 2]`` (right-hand frame) to pixels ``[N, 2]``."""
        local = np.asarray(local, dtype=np.float64).reshape(-1, 2) * self.scale
        if not self.is_right:
            local = local * np.array([-1.0, 1.0])
        c, s = np.cos(self.rotation), np.sin(self.rotation)
        rot = np.array([[c, -s], [s, c]])
        return local @ rot.T + np.array([self.x, self.y])


def _chain(start: np.ndarray, angle0: float, lengths: np.ndarray, bends: np.ndarray, flex: np.ndarray) -> list:
    """Joints of one finger: in-plane turns ``bends`` plus flexion foreshortening.

    Flexion turns a segment away from the camera, so its on-screen length is
    ``length * cos(cumulative flexion)`` (negative: it folds back under the hand).
    """
    points = [np.asarray(start, dtype=np.float64)]
    angle, bent = angle0, 0.0
    for length, bend, phi in zip(lengths, bends, flex):
        angle += bend
        bent += phi
        step = length * np.cos(bent) * np.array([np.sin(angle), -np.cos(angle)])
        points.append(points[-1] + step)
    return points


def hand_local_joints(grasp: float, spread: float = 1.0) -> np.ndarray:
    """The 21 joints in hand units for a right hand (before placement).

    Args:
        grasp: 0 (open) .. 1 (fist).
        spread: Finger splay factor.

    Returns:
        float64 ``[21, 2]`` hand-unit coordinates, MediaPipe joint order.
    """
    g = float(np.clip(grasp, 0.0, 1.0))
    joints = [np.zeros(2)]
    # The thumb swings toward the index and bends as the hand closes.
    thumb_angle = -0.85 + 0.5 * g
    joints += _chain(
        _THUMB_CMC, thumb_angle, _THUMB_LENGTHS, np.array([0.0, 0.2 + 0.3 * g, 0.15 + 0.35 * g]),
        np.array([0.0, 0.35 * g, 0.75 * g]),
    )
    for f in range(4):
        # Fingers converge as they close, as in a real grasp.
        angle = _FINGER_ANGLE[f] * spread * (1.0 - 0.6 * g)
        joints += _chain(_FINGER_MCP[f], angle, _FINGER_LENGTHS[f], np.zeros(3), _FLEX * g)
    return np.stack(joints)


def hand_joints(pose: HandPose) -> np.ndarray:
    """The 21 joints of a posed hand, float64 ``[21, 2]`` continuous pixels (x, y)."""
    return pose.to_pixels(hand_local_joints(pose.grasp, pose.spread))


@dataclass
class HandStyle:
    """Appearance of one person's hands.

    Attributes:
        skin: RGB float ``[3]`` in [0, 255], the lit skin color.
        sleeve: RGB float ``[3]`` of the sleeve, or None for a bare forearm.
        nails: Draw finger nails.
    """

    skin: np.ndarray
    sleeve: np.ndarray | None = None
    nails: bool = True


def _fix(points: np.ndarray) -> np.ndarray:
    """Continuous pixels ``[N, 2]`` -> cv2 fixed-point int32 (cv2 addresses pixel centers)."""
    return np.round((np.asarray(points) - 0.5) * _ONE).astype(np.int32)


def _capsule(mask: np.ndarray, p0, p1, r0: float, r1: float) -> None:
    """Fill a tapered capsule (two circles and their tangent quad) into ``mask``."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    n = np.array([-d[1], d[0]]) / max(np.hypot(*d), 1e-6)
    quad = np.stack([p0 + n * r0, p1 + n * r1, p1 - n * r1, p0 - n * r0])
    cv2.fillConvexPoly(mask, _fix(quad), 1, cv2.LINE_8, _SHIFT)
    for p, r in ((p0, r0), (p1, r1)):
        cv2.circle(mask, tuple(int(v) for v in _fix(p[None])[0]), int(round(r * _ONE)), 1, -1, cv2.LINE_8, _SHIFT)


def _paint_part(heightmap: np.ndarray, draw, points: np.ndarray, radius: float, lift: float = 0.0) -> None:
    """Paint one part's rounded height profile over ``heightmap`` (painter's order).

    The part is drawn in its own small box (fast distance transform), and its height is
    a quarter-circle profile ``radius`` wide at its rim: the step where it overlaps an
    earlier part shades like the occlusion edge between real fingers.

    Args:
        heightmap: float32 ``[h, w]``, modified in place; 0 = background.
        draw: ``draw(mask, offset)`` fills the part into a uint8 mask whose top-left
            corner is at ``offset`` (x, y) of ``heightmap``.
        points: float ``[N, 2]`` outline/skeleton points bounding the part (crop pixels).
        radius: Profile radius in crop pixels.
        lift: Height added to the part (its base height above the table).
    """
    h, w = heightmap.shape
    pad = 2
    x0 = int(max(0, np.floor(points[:, 0].min()) - pad))
    y0 = int(max(0, np.floor(points[:, 1].min()) - pad))
    x1 = int(min(w, np.ceil(points[:, 0].max()) + pad))
    y1 = int(min(h, np.ceil(points[:, 1].max()) + pad))
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    draw(mask, np.array([x0, y0], float))
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    t = np.minimum(dist * (1.0 / max(radius, 1.0)), 1.0)
    dome = radius * np.sqrt(1.0 - (1.0 - t) ** 2) + lift
    region = heightmap[y0:y1, x0:x1]
    np.copyto(region, dome.astype(np.float32), where=mask.astype(bool))


def render_hand(
    joints: np.ndarray, pose: HandPose, style: HandStyle, size: tuple[int, int], light: np.ndarray
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Render one hand (and its forearm) as a premultiplied color layer and an alpha.

    Args:
        joints: float ``[21, 2]`` continuous pixels, from :func:`hand_joints`.
        pose: The pose the joints came from (for the palm and forearm outline).
        style: Skin and sleeve colors.
        size: ``(H, W)`` of the frame.
        light: float ``[3]`` unit light direction (x right, y down, z toward camera).

    Returns:
        ``(color, alpha, (y0, x0))``: float32 ``[h, w, 3]`` premultiplied RGB in
        [0, 255], float32 ``[h, w]`` alpha in [0, 1], and the crop's top-left corner
        in the frame. Empty crops have ``h == 0`` or ``w == 0``.
    """
    height, width = size
    s = pose.scale
    palm = pose.to_pixels(_PALM_OUTLINE)
    forearm = pose.to_pixels(_FOREARM)
    everything = np.concatenate([palm, forearm, joints])
    margin = 0.3 * s
    x0 = int(max(0, np.floor(everything[:, 0].min() - margin)))
    y0 = int(max(0, np.floor(everything[:, 1].min() - margin)))
    x1 = int(min(width, np.ceil(everything[:, 0].max() + margin)))
    y1 = int(min(height, np.ceil(everything[:, 1].max() + margin)))
    if x1 <= x0 or y1 <= y0:
        return np.zeros((0, 0, 3), np.float32), np.zeros((0, 0), np.float32), (y0, x0)
    ss = _SUPERSAMPLE
    shape = ((y1 - y0) * ss, (x1 - x0) * ss)
    origin = np.array([x0, y0], dtype=np.float64)

    def crop(points: np.ndarray) -> np.ndarray:
        return (np.asarray(points) - origin) * ss

    j = crop(joints)
    chains = [(list(range(1, 5)), _THUMB_WIDTH)] + [
        (list(range(5 + 4 * f, 9 + 4 * f)), tuple(_FINGER_WIDTH[f])) for f in range(4)
    ]
    radii = [np.linspace(w0, w1, 4) * s * ss / 2 for _, (w0, w1) in chains]

    def finger_drawer(f: int):
        idx, r = chains[f][0], radii[f]

        def draw(mask, off):
            for a, b, r0, r1 in zip(idx[:-1], idx[1:], r[:-1], r[1:]):
                _capsule(mask, j[a] - off, j[b] - off, r0, r1)
            if f == 0:  # the thenar bulge links the thumb's metacarpal to the wrist
                _capsule(mask, j[0] + 0.6 * (j[1] - j[0]) - off, j[2] - off, r[0] * 1.25, r[0])

        return draw

    # 1. Height map, back to front: thumb, palm + forearm (one part: no wrist seam),
    #    then the fingers from the pinky side.
    heightmap = np.zeros(shape, np.float32)
    thumb_pts = np.concatenate([j[0:5], j[0:1] + 0.6 * (j[1:2] - j[0:1])])
    _paint_part(heightmap, finger_drawer(0), thumb_pts, radii[0].mean() * 1.1)
    body_palm, body_arm = crop(palm), crop(forearm)

    def draw_body(mask, off):
        cv2.fillPoly(mask, [_fix(body_palm - off)], 1, cv2.LINE_8, _SHIFT)
        cv2.fillConvexPoly(mask, _fix(body_arm - off), 1, cv2.LINE_8, _SHIFT)

    _paint_part(heightmap, draw_body, np.concatenate([body_palm, body_arm]), 0.32 * s * ss)
    for f in (4, 3, 2, 1):
        pts = j[chains[f][0]]
        pad = radii[f][0]
        _paint_part(heightmap, finger_drawer(f), np.concatenate([pts - pad, pts + pad]), radii[f].mean(), 0.06 * s * ss)
    alpha = (heightmap > 0).astype(np.float32)
    sleeve = None
    if style.sleeve is not None:
        cuff = crop(pose.to_pixels(np.array([(-0.62, _SLEEVE_START), (-0.7, 7.0), (0.7, 7.0), (0.62, _SLEEVE_START)])))
        sleeve = np.zeros(shape, np.uint8)
        cv2.fillConvexPoly(sleeve, _fix(cuff), 1, cv2.LINE_8, _SHIFT)

        def draw_sleeve(mask, off):
            cv2.fillConvexPoly(mask, _fix(cuff - off), 1, cv2.LINE_8, _SHIFT)

        _paint_part(heightmap, draw_sleeve, cuff, 0.45 * s * ss, 0.08 * s * ss)
        alpha = np.maximum(alpha, sleeve.astype(np.float32))

    # 2. Only the silhouette needs supersampling: shade at the frame's resolution.
    out_size = (x1 - x0, y1 - y0)
    heightmap = cv2.resize(heightmap, out_size, interpolation=cv2.INTER_AREA) / ss
    alpha = cv2.resize(alpha, out_size, interpolation=cv2.INTER_AREA)
    if sleeve is not None:
        sleeve = cv2.resize(sleeve.astype(np.float32), out_size, interpolation=cv2.INTER_AREA)
    j = j / ss
    radii = [r / ss for r in radii]
    shape = heightmap.shape

    # 3. Lambert + a little specular from the height map's normals.
    light = np.asarray(light, np.float32)
    smooth = cv2.GaussianBlur(heightmap, (0, 0), 0.7)
    gx = cv2.Sobel(smooth, cv2.CV_32F, 1, 0, ksize=3) * 0.125
    gy = cv2.Sobel(smooth, cv2.CV_32F, 0, 1, ksize=3) * 0.125
    inv_norm = 1.0 / np.sqrt(gx * gx + gy * gy + 1.0)
    diffuse = np.maximum((light[2] - gx * light[0] - gy * light[1]) * inv_norm, 0.0)
    half = light + np.float32([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    spec = np.maximum((half[2] - gx * half[0] - gy * half[1]) * inv_norm, 0.0)
    spec8 = (spec * spec) ** 2
    spec8 *= spec8
    spec = spec8 * spec8 * spec8  # cos^24: a tight highlight (repeated squaring is faster than **)
    shade = 0.38 + 0.72 * diffuse

    # 4. Details in one buffer, blurred once: knuckle creases, redder knuckles, nails.
    details = np.zeros((*shape, 3), np.float32)  # crease, blush, nail
    for f, (idx, _) in enumerate(chains):
        r = radii[f]
        for k in range(1, 3):
            a, p, b = j[idx[k - 1]], j[idx[k]], j[idx[k + 1]]
            d = b - a
            length = np.hypot(*d)
            if length < 1e-3:
                continue
            d = d / length
            n = np.array([-d[1], d[0]])
            for off in (-0.15, 0.15):
                q = p + d * off * r[k]
                cv2.line(details, tuple(_fix((q - n * 0.55 * r[k])[None])[0]), tuple(_fix((q + n * 0.55 * r[k])[None])[0]),
                         (1.0, 0.0, 0.0), 1, cv2.LINE_AA, _SHIFT)
            cv2.circle(details, tuple(_fix(p[None])[0]), int(r[k] * 0.7 * _ONE), (0.0, 0.5, 0.0), -1, cv2.LINE_AA, _SHIFT)
        if f > 0:
            cv2.circle(details, tuple(_fix(j[idx[0]][None])[0]), int(r[0] * 0.8 * _ONE), (0.0, 0.4, 0.0), -1, cv2.LINE_AA, _SHIFT)
        if style.nails:
            tip, dip = j[idx[-1]], j[idx[-2]]
            d = tip - dip
            length = np.hypot(*d)
            if length > 0.55 * _FINGER_LENGTHS[0, 2] * s:  # a curled nail faces away from the camera
                center = dip + d * 0.62
                axes = (int(length * 0.3 * _ONE), int(r[-1] * 0.62 * _ONE))
                angle = float(np.degrees(np.arctan2(d[1], d[0])))
                cv2.ellipse(details, tuple(_fix(center[None])[0]), axes, angle, 0, 360, (0.0, 0.0, 1.0), -1, cv2.LINE_AA, _SHIFT)
    details = cv2.GaussianBlur(details, (0, 0), 0.5)
    crease, blush, nail = cv2.split(details)
    nail *= 0.85
    skin = style.skin.astype(np.float32)
    nail_color = 0.55 * skin + 0.45 * np.float32([245.0, 215.0, 205.0])
    # Per channel: skin darkened by creases, reddened by blush, replaced by nail, lit.
    lum = (1.0 - 0.3 * crease - 0.06 * blush) * (1.0 - nail)
    channels = []
    for c, redden in enumerate((0.0, 0.1, 0.1)):
        channel = skin[c] * lum * (1.0 - redden * blush) + nail_color[c] * nail
        channels.append(channel * shade + 40.0 * spec)
    color = cv2.merge(channels)
    if sleeve is not None:
        on = sleeve[..., None]
        fabric = style.sleeve.astype(np.float32)[None, None] * (0.45 + 0.6 * diffuse)[..., None]
        color = color * (1 - on) + fabric * on
    return color * alpha[..., None], alpha, (y0, x0)


def composite(canvas: np.ndarray, premult: np.ndarray, alpha: np.ndarray, origin: tuple[int, int]) -> None:
    """Alpha-composite a premultiplied layer onto ``canvas`` (float32 ``[H, W, 3]``) in place."""
    y0, x0 = origin
    h, w = alpha.shape
    if h == 0 or w == 0:
        return
    region = canvas[y0 : y0 + h, x0 : x0 + w]
    region *= 1.0 - alpha[..., None]
    region += premult


def cast_shadow(canvas: np.ndarray, alpha: np.ndarray, origin: tuple[int, int], offset, blur: float, strength: float) -> None:
    """Darken ``canvas`` under a layer's blurred, offset silhouette (a soft cast shadow).

    Args:
        canvas: float32 ``[H, W, 3]`` in [0, 255], modified in place.
        alpha: float32 ``[h, w]`` silhouette in [0, 1] at ``origin`` = (y0, x0).
        offset: (dx, dy) pixels the shadow falls from the silhouette.
        blur: Gaussian sigma in pixels (softer when the occluder is higher).
        strength: Darkening at full shadow, in [0, 1].
    """
    if alpha.size == 0:
        return
    height, width = canvas.shape[:2]
    y0, x0 = origin
    h, w = alpha.shape
    # Work in a window around the layer, grown by the offset and the blur's reach.
    pad = int(np.ceil(3 * blur + max(abs(offset[0]), abs(offset[1])))) + 1
    wx0, wy0 = max(0, x0 - pad), max(0, y0 - pad)
    wx1, wy1 = min(width, x0 + w + pad), min(height, y0 + h + pad)
    window = np.zeros((wy1 - wy0, wx1 - wx0), np.float32)
    window[y0 - wy0 : y0 - wy0 + h, x0 - wx0 : x0 - wx0 + w] = alpha
    shift = np.float32([[1, 0, offset[0]], [0, 1, offset[1]]])
    window = cv2.warpAffine(window, shift, window.shape[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    window = cv2.GaussianBlur(window, (0, 0), blur)
    canvas[wy0:wy1, wx0:wx1] *= (1.0 - strength * window)[..., None]


# ---------------------------------------------------------------------------------
# Backgrounds.
# ---------------------------------------------------------------------------------
SURFACES = {
    "wood": ((165, 118, 78), 0.16),
    "oak": ((196, 160, 112), 0.14),
    "laminate": ((214, 208, 196), 0.06),
    "granite": ((92, 88, 86), 0.22),
    "marble": ((228, 226, 222), 0.07),
    "steel": ((176, 180, 184), 0.08),
}


def value_noise(rng: np.random.Generator, size: tuple[int, int], octaves=(4, 8, 16, 32, 64, 128)) -> np.ndarray:
    """Multi-octave value noise, float32 ``[H, W]`` roughly zero-mean, unit-ish std."""
    height, width = size
    out = np.zeros(size, np.float32)
    amp = 1.0
    for cells in octaves:
        grid = rng.standard_normal((cells, cells)).astype(np.float32)
        out += amp * cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
        amp *= 0.6
    return out / (out.std() + 1e-6)


@dataclass
class Table:
    """The static scene: surface, optional back wall, optional cutting board.

    Attributes:
        image: float32 ``[H, W, 3]`` RGB in [0, 255].
        wall_height: Rows of back wall at the top (0 for none).
        board: ``(x0, y0, x1, y1)`` of the cutting board, or None.
        surface: Surface name (a key of ``SURFACES``).
    """

    image: np.ndarray
    wall_height: int
    board: tuple[int, int, int, int] | None
    surface: str


def draw_table(rng: np.random.Generator, size: tuple[int, int], board: tuple[int, int, int, int] | None) -> Table:
    """A textured counter seen from above at an angle, with a back wall and a board.

    Args:
        rng: Randomness source.
        size: ``(H, W)``.
        board: Cutting-board rectangle in pixels, or None.

    Returns:
        The :class:`Table`.
    """
    height, width = size
    surface = str(rng.choice(list(SURFACES)))
    base, contrast = SURFACES[surface]
    base = np.array(base, np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
    noise = value_noise(rng, size)
    if surface in ("wood", "oak"):
        # Grain: noise stretched along x plus fine stripes.
        stretched = cv2.resize(value_noise(rng, (height, width // 8 + 1)), (width, height), interpolation=cv2.INTER_CUBIC)
        yy = np.arange(height, dtype=np.float32)[:, None]
        noise = 0.6 * stretched + 0.4 * np.sin(yy * rng.uniform(0.6, 1.2) + 3 * stretched)
    elif surface == "granite":
        noise = 0.4 * noise + 0.9 * rng.standard_normal(size).astype(np.float32)
    img = base[None, None, :] * (1.0 + contrast * noise[..., None])
    # Perspective-like falloff: the far part of the counter is a little darker.
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    img *= 0.85 + 0.2 * yy
    wall_height = int(rng.integers(0, int(0.22 * height))) if rng.random() < 0.6 else 0
    if wall_height > 4:
        tile = np.array(rng.choice([(230, 232, 228), (200, 214, 222), (222, 205, 180), (120, 140, 150)]), np.float32)
        wall = np.ones((wall_height, width, 3), np.float32) * tile * (1 + 0.03 * value_noise(rng, (wall_height, width))[..., None])
        pitch = int(rng.integers(16, 30))
        grout = tile * 0.75
        for x in range(int(rng.integers(0, pitch)), width, pitch):
            wall[:, x : x + 1] = grout
        for y in range(wall_height - 1, -1, -pitch // 2):
            wall[y : y + 1] = grout
        img[:wall_height] = wall
        # The counter's front edge casts a soft line against the wall.
        img[wall_height : wall_height + 3] *= 0.6
    if board is not None:
        bx0, by0, bx1, by1 = board
        cast = np.zeros(size, np.float32)
        cv2.rectangle(cast, (bx0 + 3, by0 + 4), (bx1 + 3, by1 + 4), 1.0, -1)
        img *= (1 - 0.35 * cv2.GaussianBlur(cast, (0, 0), 3))[..., None]
        wood = np.array(rng.choice([(205, 160, 110), (225, 195, 150), (170, 120, 80), (240, 240, 235)]), np.float32)
        grain = cv2.resize(value_noise(rng, (by1 - by0, max(2, (bx1 - bx0) // 10))), (bx1 - bx0, by1 - by0))
        patch = wood * (1 + 0.07 * grain[..., None])
        m = np.zeros((by1 - by0, bx1 - bx0), np.uint8)
        cv2.rectangle(m, (0, 0), (bx1 - bx0 - 1, by1 - by0 - 1), 1, -1)
        rim = cv2.distanceTransform(m, cv2.DIST_L2, 3)
        patch *= (0.8 + 0.2 * np.clip(rim / 4.0, 0, 1))[..., None]
        img[by0:by1, bx0:bx1] = patch
    return Table(image=img, wall_height=wall_height, board=board, surface=surface)


# ---------------------------------------------------------------------------------
# Objects.
# ---------------------------------------------------------------------------------
OBJECT_COLORS = {
    "apple": [(190, 30, 35), (140, 190, 60)],
    "orange": [(245, 140, 20)],
    "tomato": [(220, 45, 30)],
    "lemon": [(245, 220, 60)],
    "onion": [(200, 150, 90), (150, 60, 90)],
    "bowl": [(235, 235, 230), (60, 110, 170), (200, 80, 60), (90, 150, 100)],
    "box": [(190, 150, 90), (200, 60, 60), (60, 120, 190), (230, 200, 80), (240, 240, 240)],
    "cup": [(240, 240, 235), (40, 90, 160), (200, 50, 50), (60, 60, 60)],
    "jar": [(180, 90, 40), (150, 170, 60), (200, 40, 40)],
    "plate": [(245, 245, 240), (225, 230, 240)],
    "carrot": [(240, 120, 30)],
    "cucumber": [(60, 120, 45)],
    "knife": [(40, 40, 40)],
    "sponge": [(245, 215, 60), (120, 190, 90)],
}


@dataclass
class SceneObject:
    """One object on the table.

    Attributes:
        kind: A key of ``OBJECT_COLORS``.
        x: Center x, pixels.
        y: Center y, pixels.
        size: Characteristic radius (round things) or half-length (long things), pixels.
        angle: Orientation in radians (long things, boxes).
        color: RGB float ``[3]``.
        lift: Height above the table in pixels (moves the shadow away).
        cuts: Positions along the object axis in [-1, 1] already sliced.
    """

    kind: str
    x: float
    y: float
    size: float
    angle: float
    color: np.ndarray
    lift: float = 0.0
    cuts: tuple = ()


def _pt(p) -> tuple[int, int]:
    return tuple(int(v) for v in _fix(np.asarray(p, float)[None])[0])


def _ellipse(img, center, axes, angle_rad, color, thickness=-1) -> None:
    cv2.ellipse(img, _pt(center), (int(max(axes[0], 0.5) * _ONE), int(max(axes[1], 0.5) * _ONE)),
                float(np.degrees(angle_rad)), 0, 360, tuple(float(c) for c in color), thickness, cv2.LINE_AA, _SHIFT)


def _poly(img, points, color) -> None:
    cv2.fillPoly(img, [_fix(np.asarray(points, float))], tuple(float(c) for c in color), cv2.LINE_AA, _SHIFT)


def _rotated_rect(cx, cy, half_w, half_h, angle) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    corners = np.array([(-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h)])
    return corners @ np.array([[c, -s], [s, c]]).T + np.array([cx, cy])


def object_shadow(canvas: np.ndarray, obj: SceneObject, light: np.ndarray) -> None:
    """Soft contact shadow of an object, offset away from the light as it lifts."""
    height, width = canvas.shape[:2]
    off = -light[:2] / max(light[2], 0.3) * (2.0 + obj.lift)
    r = obj.size
    blur = 2.0 + 0.25 * obj.lift
    pad = int(1.3 * r + 3 * blur + abs(off).max()) + 2
    wx0, wy0 = int(max(0, obj.x - pad)), int(max(0, obj.y - pad))
    wx1, wy1 = int(min(width, obj.x + pad)), int(min(height, obj.y + pad))
    if wx1 <= wx0 or wy1 <= wy0:
        return
    m = np.zeros((wy1 - wy0, wx1 - wx0), np.float32)
    cx, cy = obj.x + off[0] - wx0, obj.y + off[1] - wy0
    if obj.kind in ("carrot", "cucumber", "knife"):
        _ellipse(m, (cx, cy), (r, 0.22 * r), obj.angle, (1.0,))
    elif obj.kind in ("box", "sponge"):
        _poly(m, _rotated_rect(cx, cy, r, 0.7 * r, obj.angle), (1.0,))
    else:
        _ellipse(m, (cx, cy + 0.1 * r), (r, 0.85 * r), 0.0, (1.0,))
    m = cv2.GaussianBlur(m, (0, 0), blur)
    canvas[wy0:wy1, wx0:wx1] *= (1.0 - 0.45 * m)[..., None]


def draw_object(canvas: np.ndarray, obj: SceneObject, light: np.ndarray) -> None:
    """Draw ``obj`` (with its shadow) onto ``canvas`` (float32 ``[H, W, 3]``) in place."""
    object_shadow(canvas, obj, light)
    x, y, r, a, col = obj.x, obj.y, obj.size, obj.angle, np.asarray(obj.color, np.float32)
    # Growing as it is lifted toward the camera.
    r = r * (1.0 + 0.004 * obj.lift)
    lx, ly = light[0], light[1]
    dark, lite = col * 0.6, np.minimum(col * 1.25 + 20, 255)
    if obj.kind in ("apple", "orange", "tomato", "onion", "lemon"):
        sq = 0.8 if obj.kind == "lemon" else 0.95
        _ellipse(canvas, (x, y), (r, r * sq), a, dark)
        _ellipse(canvas, (x + 0.12 * r * lx, y + 0.12 * r * ly), (0.85 * r, 0.85 * r * sq), a, col)
        _ellipse(canvas, (x + 0.4 * r * lx, y + 0.4 * r * ly), (0.3 * r, 0.22 * r), a, lite)
        if obj.kind in ("apple", "tomato"):
            stem = (60, 110, 40) if obj.kind == "tomato" else (90, 60, 30)
            _ellipse(canvas, (x, y - 0.1 * r), (0.18 * r, 0.1 * r), 0.5, stem)
    elif obj.kind in ("bowl", "cup", "jar", "plate"):
        _ellipse(canvas, (x, y), (r, 0.85 * r), 0.0, dark)
        _ellipse(canvas, (x, y - 0.04 * r), (0.96 * r, 0.8 * r), 0.0, col)
        if obj.kind == "jar":
            _ellipse(canvas, (x, y - 0.04 * r), (0.75 * r, 0.62 * r), 0.0, np.array([190, 190, 195]))
            _ellipse(canvas, (x - 0.2 * r, y - 0.2 * r), (0.25 * r, 0.15 * r), 0.0, np.array([235, 235, 240]))
        else:
            inner = {"bowl": 0.8, "cup": 0.78, "plate": 0.62}[obj.kind]
            _ellipse(canvas, (x, y - 0.02 * r), (inner * r, inner * 0.8 * r), 0.0, col * 0.78)
            _ellipse(canvas, (x + 0.15 * r, y + 0.12 * r), (inner * 0.8 * r, inner * 0.6 * r), 0.0, col * 0.9)
            if obj.kind == "cup":
                _ellipse(canvas, (x, y), (0.6 * r, 0.48 * r), 0.0, np.array([70, 45, 30]))
                hx, hy = x + 1.05 * r * np.cos(a), y + 0.9 * r * np.sin(a)
                cv2.ellipse(canvas, _pt((hx, hy)), (int(0.35 * r * _ONE), int(0.28 * r * _ONE)), float(np.degrees(a)),
                            0, 360, tuple(float(c) for c in col * 0.85), max(2, int(0.14 * r)), cv2.LINE_AA, _SHIFT)
    elif obj.kind in ("box", "sponge"):
        half_h = 0.7 * r
        depth = 0.35 * r if obj.kind == "box" else 0.2 * r
        front = _rotated_rect(x, y + depth / 2, r, half_h, a)
        _poly(canvas, front, dark)
        top = _rotated_rect(x, y - depth / 2, r, half_h, a)
        _poly(canvas, top, col)
        if obj.kind == "box":
            band = _rotated_rect(x, y - depth / 2, r * 0.98, half_h * 0.3, a)
            _poly(canvas, band, np.minimum(col * 0.7 + 60, 255))
        else:
            _poly(canvas, _rotated_rect(x, y - depth / 2 - 0.1 * r, r * 0.95, half_h * 0.45, a), np.array([60, 130, 70]))
    elif obj.kind in ("carrot", "cucumber"):
        d = np.array([np.cos(a), np.sin(a)])
        n = np.array([-d[1], d[0]])
        c = np.array([x, y])
        w = 0.2 * r if obj.kind == "carrot" else 0.22 * r
        if obj.kind == "carrot":
            pts = [c - d * r + n * w, c + d * r * 0.95 + n * w * 0.15, c + d * r, c + d * r * 0.95 - n * w * 0.15, c - d * r - n * w]
            _poly(canvas, pts, dark)
            _poly(canvas, [p - n * 0.2 * w for p in pts[:2]] + [p + n * 0.0 for p in pts[2:]], col)
            for k in range(3):
                leaf_end = c - d * (r + 0.35 * r) + n * (k - 1) * 0.25 * r
                cv2.line(canvas, _pt(c - d * r), _pt(leaf_end), (50, 130, 40), max(1, int(0.06 * r)), cv2.LINE_AA, _SHIFT)
        else:
            cv2.line(canvas, _pt(c - d * r), _pt(c + d * r), tuple(float(v) for v in dark), int(2 * w), cv2.LINE_AA, _SHIFT)
            cv2.line(canvas, _pt(c - d * r - n * 0.25 * w), _pt(c + d * r - n * 0.25 * w), tuple(float(v) for v in col),
                     max(1, int(1.3 * w)), cv2.LINE_AA, _SHIFT)
        for t in obj.cuts:
            p = c + d * t * r
            cv2.line(canvas, _pt(p - n * w * 1.05), _pt(p + n * w * 1.05), (250, 235, 200), 1, cv2.LINE_AA, _SHIFT)
    elif obj.kind == "knife":
        draw_knife(canvas, np.array([x, y]), np.array([np.cos(a), np.sin(a)]), r)
    if obj.kind in ("apple", "orange", "tomato", "onion", "lemon"):
        for t in obj.cuts:
            p = np.array([x, y]) + np.array([np.cos(a), np.sin(a)]) * t * r
            n = np.array([-np.sin(a), np.cos(a)]) * r * np.sqrt(max(0.0, 1 - t * t))
            cv2.line(canvas, _pt(p - n), _pt(p + n), (250, 240, 210), 1, cv2.LINE_AA, _SHIFT)


def draw_knife(canvas: np.ndarray, handle_end: np.ndarray, direction: np.ndarray, length: float) -> None:
    """A kitchen knife: dark handle from ``handle_end`` along ``direction``, then the blade.

    Args:
        canvas: float32 ``[H, W, 3]``, modified in place.
        handle_end: float ``[2]`` pixel position of the handle's butt.
        direction: float ``[2]`` unit vector from the butt toward the tip.
        length: Total length in pixels (handle ~35%).
    """
    d = np.asarray(direction, float) / np.linalg.norm(direction)
    n = np.array([-d[1], d[0]])
    p0 = np.asarray(handle_end, float)
    p1 = p0 + d * 0.35 * length
    w = 0.055 * length
    _poly(canvas, [p0 + n * w, p1 + n * w, p1 - n * w, p0 - n * w], (35, 30, 30))
    blade_w = 0.08 * length
    tip = p0 + d * length
    blade = [p1 + n * blade_w, p1 + d * 0.55 * length + n * blade_w, tip, p1 - n * 0.2 * blade_w]
    _poly(canvas, blade, (150, 155, 160))
    _poly(canvas, [p1 + n * 0.2 * blade_w, p1 + d * 0.55 * length + n * 0.3 * blade_w, tip, p1 - n * 0.2 * blade_w], (205, 210, 215))
