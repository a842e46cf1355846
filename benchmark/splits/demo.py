"""The `demo` split: synthetic egocentric hand-object clips, generated, never downloaded.

Each sample is a 16-frame clip (frame 0 = context, 1..15 = target) of one or two hands
entering from the bottom of a cluttered tabletop and acting on an object: reach for it,
push it, pick it up, put it down, cut it with a knife, or wipe the counter. The hands
are drawn so that the real MediaPipe hand landmarker finds them (DESIGN.md, "The demo
split"), and the drawn joints are the sample's keypoints. Sample ``i`` depends only on
``(seed, i)``, so it is the same whatever ``num_samples`` is.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from hcvg import FRAME_SIZE, NUM_FRAMES
from hcvg.sample import Sample
from benchmark.splits.demo_render import (
    OBJECT_COLORS,
    SKIN_TONES,
    HandPose,
    HandStyle,
    SceneObject,
    cast_shadow,
    composite,
    draw_knife,
    draw_object,
    draw_table,
    hand_joints,
    render_hand,
)
from handi.motion_area import motion_area_mask

ACTIONS = ("reach for", "push", "pick up", "put down", "cut", "wipe")
# Target objects each action makes sense with.
ACTION_OBJECTS = {
    "reach for": ("apple", "orange", "bowl", "box", "cup", "jar", "plate", "lemon"),
    "push": ("box", "bowl", "cup", "jar", "plate"),
    "pick up": ("apple", "orange", "tomato", "cup", "jar", "box", "lemon", "onion"),
    "put down": ("apple", "orange", "cup", "jar", "box", "lemon"),
    "cut": ("carrot", "cucumber", "tomato", "apple", "onion"),
    "wipe": ("counter", "table"),
}
# Objects big enough to be handled with both hands.
TWO_HANDED_OBJECTS = {"push": ("box", "bowl"), "pick up": ("box", "bowl")}
DISTRACTORS = ("apple", "orange", "tomato", "lemon", "onion", "bowl", "box", "cup", "jar", "plate", "carrot", "knife")
OBJECT_SIZE = {  # radius / half-length range in pixels
    "apple": (13, 18), "orange": (14, 19), "tomato": (12, 16), "lemon": (12, 16), "onion": (13, 17),
    "bowl": (24, 32), "box": (20, 28), "cup": (13, 17), "jar": (13, 17), "plate": (26, 34),
    "carrot": (30, 40), "cucumber": (32, 42), "knife": (28, 36), "sponge": (15, 18),
}
_GRIP = 1.3  # wrist -> grasp point distance (middle of the fingers), palm widths
_TIP = 1.95  # wrist -> fingertips of an open hand, palm widths
_CUT_GRASP = 0.62  # knife-holding hand: fingers curled around the handle


@dataclass
class DemoConfig:
    """How to generate the demo split.

    Attributes:
        num_samples: Number of clips.
        seed: Base seed; sample ``i`` uses ``np.random.default_rng((seed, i))``.
        size: Frame height and width in pixels.
        num_frames: L, target frames per clip (the clip has L + 1 frames).
        camera_shake_px: Amplitude of the sub-pixel global jitter of the whole frame.
        hand_scale_px: Range of palm widths in pixels.
        two_hand_fraction: Probability that a clip shows both hands.
        max_rotation: Largest hand rotation from upright, radians.
        sensor_noise: Std of per-frame Gaussian pixel noise, in 8-bit levels.
        actions: Actions to draw from.
    """

    num_samples: int = 12
    seed: int = 0
    size: int = FRAME_SIZE
    num_frames: int = NUM_FRAMES
    camera_shake_px: float = 1.0  # real egocentric backgrounds are never perfectly still
    hand_scale_px: tuple[float, float] = (45.0, 75.0)  # range the real detector was checked on
    two_hand_fraction: float = 1.0 / 3.0
    max_rotation: float = 0.6  # the detector was checked at +-0.5 rad; a little beyond is fine
    sensor_noise: float = 1.5
    actions: tuple[str, ...] = field(default=ACTIONS)


@dataclass
class _Track:
    """One hand over the clip: its poses, plus whatever it holds."""

    poses: list[HandPose]
    knife: list[tuple[np.ndarray, np.ndarray, float]] | None = None  # (butt, direction, length) per frame


def _ease(a: float, b: float, t: float) -> float:
    """Smoothstep from 0 at ``t <= a`` to 1 at ``t >= b``."""
    x = float(np.clip((t - a) / (b - a), 0.0, 1.0))
    return x * x * (3.0 - 2.0 * x)


def _direction(theta: float) -> np.ndarray:
    return np.array([np.sin(theta), -np.cos(theta)])


class _Planner:
    """Plans one clip: layout, objects and per-frame hand poses, from one rng."""

    def __init__(self, rng: np.random.Generator, config: DemoConfig):
        self.rng = rng
        self.cfg = config
        self.size = config.size
        self.times = np.linspace(0.0, 1.0, config.num_frames + 1)

    def anchor(self, is_right: bool) -> np.ndarray:
        """Off-screen shoulder point the forearm comes from (bottom left / right)."""
        side = 1.0 if is_right else -1.0
        return np.array([self.size * (0.5 + side * self.rng.uniform(0.3, 0.5)), self.size * self.rng.uniform(1.4, 1.8)])

    def aim(self, anchor: np.ndarray, target: np.ndarray) -> float:
        """Hand rotation pointing from the shoulder toward ``target``, clipped."""
        d = target - anchor
        theta = np.arctan2(d[0], -d[1]) + self.rng.normal(0.0, 0.08)
        return float(np.clip(theta, -self.cfg.max_rotation, self.cfg.max_rotation))

    def wobble(self, amplitude: float) -> np.ndarray:
        """Smooth small per-frame offsets ``[T, 2]`` (hands never move on rails)."""
        phase = self.rng.uniform(0, 2 * np.pi, 2)
        freq = self.rng.uniform(0.7, 1.6, 2)
        return amplitude * np.sin(2 * np.pi * freq[None] * self.times[:, None] + phase[None])

    def start_offset(self, theta: float, scale: float) -> np.ndarray:
        """Where the hand starts relative to its end: back along the arm, toward the bottom."""
        travel = self.rng.uniform(0.5, 1.1) * scale
        return -_direction(theta) * travel + np.array([self.rng.normal(0, 8), 0.0])

    def clamp_start(self, start: np.ndarray, scale: float) -> np.ndarray:
        """Keep the starting wrist at most a little below the frame, so the hand is in view."""
        return np.array([start[0], min(start[1], self.size + 0.15 * scale)])


def _make_track(poses_xy, thetas, scale, grasps, spreads, is_right) -> _Track:
    return _Track([
        HandPose(float(p[0]), float(p[1]), float(scale), float(th), float(g), float(sp), is_right)
        for p, th, g, sp in zip(poses_xy, thetas, grasps, spreads)
    ])


def _plan_sample(rng: np.random.Generator, cfg: DemoConfig) -> dict:
    """Choose everything about one clip; returns the plan as a dict."""
    size = cfg.size
    plan = _Planner(rng, cfg)
    times = plan.times
    action = str(rng.choice(list(cfg.actions)))
    two_hands = bool(rng.random() < cfg.two_hand_fraction)
    dominant_right = bool(rng.random() < 0.75)
    side = 1.0 if dominant_right else -1.0
    both_hands = two_hands and action in TWO_HANDED_OBJECTS and rng.random() < 0.6
    kind = str(rng.choice(TWO_HANDED_OBJECTS[action] if both_hands else ACTION_OBJECTS[action]))
    lo, hi = cfg.hand_scale_px
    if both_hands or action in ("reach for", "wipe"):
        hi = lo + 0.55 * (hi - lo)  # these need room to travel or to fit two hands
    scale = float(rng.uniform(lo, hi))
    light = np.array([rng.uniform(-0.5, 0.5), rng.uniform(-0.7, -0.2), 1.0])
    light /= np.linalg.norm(light)

    # Target object placement: upper-middle of the counter, on the acting hand's side.
    is_object = kind not in ("counter", "table")
    if kind in OBJECT_SIZE:
        radius = float(rng.uniform(*OBJECT_SIZE[kind]))
    else:
        radius = 0.0
    if both_hands:
        radius *= 1.35
    reach = {"reach for": _TIP * scale + 0.6 * radius, "push": _TIP * scale + 0.8 * radius}.get(action, _GRIP * scale)
    y_max = size - 0.35 * scale - reach
    y_min = max(0.2 * size + radius, y_max - 70)
    oy = float(rng.uniform(y_min, max(y_min, y_max)))
    ox = float(size / 2 + (0.0 if both_hands else side * rng.uniform(-0.12, 0.15) * size))
    target = np.array([ox, oy])
    board = None
    if action == "cut" or rng.random() < 0.3:
        bw, bh = rng.uniform(0.45, 0.6) * size, rng.uniform(0.3, 0.42) * size
        cx, cy = (ox, oy) if action == "cut" else (rng.uniform(0.3, 0.7) * size, rng.uniform(0.45, 0.7) * size)
        board = (int(max(0, cx - bw / 2)), int(max(0, cy - bh / 2)), int(min(size, cx + bw / 2)), int(min(size, cy + bh / 2)))
    table = draw_table(rng, (size, size), board)

    tracks: list[_Track] = []
    target_states: list[SceneObject] = []
    sponge_states: list[SceneObject] | None = None
    color = np.array(OBJECT_COLORS.get(kind, [(0, 0, 0)])[rng.integers(len(OBJECT_COLORS.get(kind, [0])))], np.float32)
    obj_angle = float(rng.uniform(-0.4, 0.4))

    def static_target(x=ox, y=oy, lift=0.0, angle=obj_angle, cuts=()):
        return SceneObject(kind, float(x), float(y), radius, angle, color, float(lift), tuple(cuts))

    anchor = plan.anchor(dominant_right)
    wob = plan.wobble(1.5)
    if action in ("reach for", "push"):
        theta = plan.aim(anchor, target)
        d = _direction(theta)
        contact = target - d * reach
        start = plan.clamp_start(contact + plan.start_offset(theta, scale), scale)
        push = float(rng.uniform(25, 45)) if action == "push" else 0.0
        t_contact = 0.85 if action == "reach for" else 0.45
        xy, obj_xy = [], []
        for t in times:
            p = start + (contact - start) * _ease(0.0, t_contact, t) + d * push * _ease(t_contact, 1.0, t)
            xy.append(p)
            obj_xy.append(target + d * push * _ease(t_contact, 1.0, t))
        g0, g1 = (0.35, 0.08) if action == "reach for" else (0.25, 0.12)
        grasps = [g0 + (g1 - g0) * _ease(0, t_contact, t) for t in times]
        spreads = [0.7 + 0.4 * _ease(0, t_contact, t) if action == "reach for" else 0.5 for t in times]
        if both_hands:
            tracks = _both_hands(plan, target, radius, scale, action, times)
            obj_xy = [target + _both_hands_move(action, t) for t in times]
        else:
            tracks.append(_make_track(np.array(xy) + wob, [theta] * len(times), scale, grasps, spreads, dominant_right))
        target_states = [static_target(p[0], p[1]) for p in obj_xy]
    elif action in ("pick up", "put down"):
        theta = plan.aim(anchor, target)
        d = _direction(theta)
        grip = target - d * _GRIP * scale
        start = plan.clamp_start(grip + plan.start_offset(theta, scale), scale)
        lift = float(rng.uniform(22, 38))
        hold = float(np.clip(0.45 + 0.2 * (18 - radius) / 6, 0.4, 0.72))
        if both_hands:
            tracks = _both_hands(plan, target, radius, scale, "pick up", times)
        xy, grasps, obj_states = [], [], []
        for t in times:
            tt = 1.0 - t if action == "put down" else t
            up = np.array([0.0, -lift]) * _ease(0.68, 1.0, tt)
            xy.append(start + (grip - start) * _ease(0.0, 0.45, tt) + up)
            grasps.append(0.15 + (hold - 0.15) * _ease(0.45, 0.66, tt))
            if both_hands:
                up = _both_hands_move("pick up", t)
            obj_states.append(static_target(ox + up[0], oy + up[1], lift=-up[1]))
        if not both_hands:
            tracks.append(_make_track(np.array(xy) + wob, [theta] * len(times), scale, grasps, [1.0] * len(times), dominant_right))
        target_states = obj_states
    elif action == "cut":
        theta = plan.aim(anchor, target)
        k_angle = theta - side * float(rng.uniform(0.45, 0.7))  # knife swings toward the thumb
        k = _direction(k_angle)
        axis = np.array([-k[1], k[0]])  # object lies across the blade
        if axis[0] * side < 0:
            axis = -axis  # slices come off the knife hand's end; the other hand holds the far end
        obj_angle = float(np.arctan2(axis[1], axis[0]))
        length = 2.1 * scale
        amp = float(rng.uniform(0.14, 0.22)) * scale
        cycles = float(rng.uniform(2.0, 3.0))
        t0, t1 = float(rng.uniform(0.55, 0.65)), float(rng.uniform(0.25, 0.4))
        xy, knives, states = [], [], []
        approach = -_direction(theta) * rng.uniform(12, 22)
        for t in times:
            t_cut = t0 + (t1 - t0) * t
            point = target + axis * t_cut * radius
            stroke = amp * np.sin(2 * np.pi * cycles * _ease(0.15, 1.0, t) * 1.0) * (t > 0.15)
            butt = point - k * 0.62 * length + k * stroke + approach * (1 - _ease(0.0, 0.15, t))
            grip_pt = butt + k * 0.2 * length
            xy.append(grip_pt - _direction(theta) * 1.05 * scale)
            knives.append((butt, k, length))
            done = int(np.floor(cycles * _ease(0.15, 1.0, t)))
            cuts = [t0 + (t1 - t0) * (c + 1) / (cycles + 1) for c in range(done)]
            states.append(SceneObject(kind, ox, oy, radius, obj_angle, color, 0.0, tuple(cuts)))
        track = _make_track(np.array(xy), [theta] * len(times), scale, [_CUT_GRASP] * len(times), [0.6] * len(times), dominant_right)
        track.knife = knives
        tracks.append(track)
        target_states = states
        if two_hands:
            hold_pt = target - axis * 0.85 * radius
            other = plan.anchor(not dominant_right)
            # Keep the two palms apart: a hand hidden under the other is found by nobody.
            knife_palm = xy[len(xy) // 2] + _direction(theta) * 0.6 * scale
            for _ in range(20):
                th2 = plan.aim(other, hold_pt)
                w2 = hold_pt - _direction(th2) * 1.15 * scale
                if np.hypot(*(w2 + _direction(th2) * 0.6 * scale - knife_palm)) >= 1.6 * scale:
                    break
                hold_pt = hold_pt + np.array([-side * 0.1 * scale, 0.0])
            tracks.append(_make_track(w2 + plan.wobble(1.0), [th2] * len(times), scale, [0.4] * len(times), [0.8] * len(times),
                                      not dominant_right))
    elif action == "wipe":
        radius = float(rng.uniform(*OBJECT_SIZE["sponge"]))
        theta = plan.aim(anchor, target)
        d = _direction(theta)
        center = target - d * 1.0 * scale
        start = plan.clamp_start(center + plan.start_offset(theta, scale), scale)
        amp = float(rng.uniform(14, 24))
        sweep = np.array([np.cos(theta), np.sin(theta)])
        sponge_color = np.array(OBJECT_COLORS["sponge"][rng.integers(2)], np.float32)
        xy, sponge_states = [], []
        for t in times:
            p = start + (center - start) * _ease(0.0, 0.3, t) + sweep * amp * np.sin(2 * np.pi * 1.5 * _ease(0.3, 1.0, t))
            xy.append(p)
            sc = p + d * 1.0 * scale
            sponge_states.append(SceneObject("sponge", sc[0], sc[1], radius * scale / 55, theta, sponge_color))
        tracks.append(_make_track(np.array(xy) + wob, [theta] * len(times), scale, [0.1] * len(times), [0.8] * len(times),
                                  dominant_right))
        target_states = []
    if two_hands and len(tracks) == 1:
        tracks.append(_idle_hand(plan, not dominant_right, scale, times))

    distractors = _place_distractors(rng, size, table, target if is_object else None, radius, tracks)
    style = HandStyle(
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.95, 1.05, 3).astype(np.float32),
        sleeve=np.array(rng.choice([(40, 60, 110), (150, 30, 40), (60, 60, 60), (200, 200, 195), (90, 120, 70)]), np.float32)
        if rng.random() < 0.5 else None,
        nails=True,
    )
    return dict(action=action, kind=kind, both_hands=both_hands, tracks=tracks, target_states=target_states,
                sponge_states=sponge_states, distractors=distractors, table=table, light=light, style=style,
                scale=scale)


def _both_hands(plan: _Planner, target, radius, scale, action, times) -> list[_Track]:
    """Two hands on the left and right sides of a big object (push or lift it)."""
    tracks = []
    for is_right in (False, True):
        s = 1.0 if is_right else -1.0
        theta = -s * plan.rng.uniform(0.2, 0.4)
        d = _direction(theta)
        side_pt = target + np.array([s * (radius + 0.15 * scale), 0.1 * radius])
        grip = side_pt - d * _GRIP * scale
        start = plan.clamp_start(grip + plan.start_offset(theta, scale), scale)
        xy, grasps = [], []
        for t in times:
            move = _both_hands_move(action, t)
            xy.append(start + (grip - start) * _ease(0.0, 0.45, t) + move)
            grasps.append(0.15 + 0.3 * _ease(0.4, 0.6, t) if action == "pick up" else 0.15)
        tracks.append(_make_track(np.array(xy) + plan.wobble(1.0), [theta] * len(times), scale, grasps, [0.7] * len(times), is_right))
    return tracks


def _both_hands_move(action: str, t: float) -> np.ndarray:
    """Shared offset ``[2]`` of both hands and the object: ahead (push) or up (lift, once gripped)."""
    return np.array([0.0, -35.0]) * _ease(0.62 if action == "pick up" else 0.45, 1.0, t)


def _idle_hand(plan: _Planner, is_right: bool, scale: float, times) -> _Track:
    """The other hand resting near its bottom corner, drifting slightly."""
    s = 1.0 if is_right else -1.0
    size = plan.size
    wrist = np.array([size / 2 + s * plan.rng.uniform(0.25, 0.34) * size, size - plan.rng.uniform(0.0, 0.15) * scale])
    theta = float(np.clip(-s * plan.rng.uniform(0.1, 0.45), -plan.cfg.max_rotation, plan.cfg.max_rotation))
    grasp = float(plan.rng.uniform(0.15, 0.45))
    return _make_track(wrist + plan.wobble(2.5), [theta] * len(times), scale, [grasp] * len(times), [0.9] * len(times), is_right)


def _place_distractors(rng, size, table, target, radius, tracks) -> list[SceneObject]:
    """Clutter: 3-6 objects away from the target and from the hands' paths."""
    keep_out = [(np.array(p), 1.0 * tr.poses[0].scale) for tr in tracks for p in
                ([pose.x, pose.y] for pose in tr.poses[:: 3])]
    for tr in tracks:
        for pose in tr.poses[::3]:
            tip = np.array([pose.x, pose.y]) + _direction(pose.rotation) * 1.4 * pose.scale
            keep_out.append((tip, 1.1 * pose.scale))
    if target is not None:
        keep_out.append((target, radius + 12))
    objects = []
    for _ in range(int(rng.integers(3, 7))):
        kind = str(rng.choice(DISTRACTORS))
        r = float(rng.uniform(*OBJECT_SIZE[kind]))
        for _attempt in range(12):
            p = np.array([rng.uniform(r, size - r), rng.uniform(table.wall_height + 0.6 * r, size - r)])
            clear = all(np.hypot(*(p - q)) > rr + r for q, rr in keep_out)
            clear &= all(np.hypot(p[0] - o.x, p[1] - o.y) > r + o.size + 4 for o in objects)
            if clear:
                colors = OBJECT_COLORS[kind]
                color = np.array(colors[rng.integers(len(colors))], np.float32) * rng.uniform(0.9, 1.1)
                objects.append(SceneObject(kind, float(p[0]), float(p[1]), r, float(rng.uniform(-np.pi, np.pi)), color))
                break
    return objects


def _render_clip(rng: np.random.Generator, plan: dict, cfg: DemoConfig) -> tuple[np.ndarray, np.ndarray]:
    """Draw the planned clip.

    Returns:
        ``(frames, keypoints)``: uint8 ``[T, H, W, 3]`` and float32 ``[T, 2, 21, 2]``
        normalized drawn joints (NaN outside the frame or for an absent hand).
    """
    size = cfg.size
    num = cfg.num_frames + 1
    static = plan["table"].image.copy()
    light = plan["light"]
    for obj in plan["distractors"]:
        draw_object(static, obj, light)
    # Camera shake: a smooth random walk of the whole frame, sub-pixel.
    tt = np.linspace(0.0, 1.0, num)[:, None]
    phases = rng.uniform(0, 2 * np.pi, (2, 2))
    freqs = rng.uniform(1.0, 3.0, (2, 2))
    shake = cfg.camera_shake_px * 0.5 * (np.sin(2 * np.pi * freqs[0] * tt + phases[0]) + np.sin(2 * np.pi * freqs[1] * tt + phases[1]))
    noise_rng = np.random.default_rng(rng.integers(2**32))
    frames = np.zeros((num, size, size, 3), np.uint8)
    keypoints = np.full((num, 2, 21, 2), np.nan, np.float32)
    wet = np.zeros((size, size), np.float32)
    for t in range(num):
        canvas = static.copy()
        if plan["sponge_states"] is not None:
            sp = plan["sponge_states"][t]
            if t > 0:
                cv2.ellipse(wet, (int(sp.x), int(sp.y)), (int(sp.size * 1.1), int(sp.size * 0.8)), float(np.degrees(sp.angle)), 0, 360, 1.0, -1)
            canvas *= (1.0 - 0.18 * cv2.GaussianBlur(wet, (0, 0), 2.0))[..., None]
            draw_object(canvas, sp, light)
        if plan["target_states"]:
            draw_object(canvas, plan["target_states"][t], light)
        layers = []
        for track in plan["tracks"]:
            pose = track.poses[t]
            joints = hand_joints(pose)
            premult, alpha, origin = render_hand(joints, pose, plan["style"], (size, size), light)
            height = 0.18 * pose.scale + (plan["target_states"][t].lift if plan["target_states"] else 0.0)
            offset = -light[:2] / light[2] * height
            cast_shadow(canvas, alpha, origin, offset, 2.0 + 0.08 * height, 0.4)
            layers.append((premult, alpha, origin, track, joints))
            slot = 1 if pose.is_right else 0
            keypoints[t, slot] = joints
        for premult, alpha, origin, track, _ in sorted(layers, key=lambda layer: -layer[3].poses[t].y):
            if track.knife is not None:
                butt, k, length = track.knife[t]
                draw_knife(canvas, butt, k, length)
            composite(canvas, premult, alpha, origin)
        dx, dy = shake[t]
        moved = cv2.warpAffine(canvas, np.float32([[1, 0, dx], [0, 1, dy]]), (size, size), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REFLECT101)
        moved += cfg.sensor_noise * noise_rng.standard_normal(moved.shape, dtype=np.float32)
        frames[t] = np.clip(moved + 0.5, 0, 255).astype(np.uint8)
        keypoints[t, :, :, 0] += dx
        keypoints[t, :, :, 1] += dy
    keypoints /= size
    outside = (keypoints < 0.0) | (keypoints > 1.0)
    keypoints[outside.any(axis=-1)] = np.nan
    return frames, keypoints


def make_demo_sample(index: int, config: DemoConfig | None = None) -> Sample:
    """Generate sample ``index`` of the demo split (depends only on ``(seed, index)``).

    Args:
        index: Sample index, >= 0.
        config: Generation settings (defaults: :class:`DemoConfig`).

    Returns:
        A :class:`Sample` with ``keypoints`` (float32 ``[L+1, 2, 21, 2]``) and
        ``motion_area`` (bool ``[H, W]``) from the drawn joints.
    """
    cfg = config or DemoConfig()
    rng = np.random.default_rng((cfg.seed, index))
    plan = _plan_sample(rng, cfg)
    frames, keypoints = _render_clip(rng, plan, cfg)
    noun = plan["kind"]
    prompt = f"{plan['action']} the {noun}" + (" with both hands" if plan["both_hands"] else "")
    hands = sorted("right" if tr.poses[0].is_right else "left" for tr in plan["tracks"])
    meta = {
        "seed": cfg.seed,
        "index": index,
        "action": plan["action"],
        "object": noun,
        "hands": hands,
        "dominant": "right" if plan["tracks"][0].poses[0].is_right else "left",
        "palm_width_px": round(plan["scale"], 2),
        "rotations": [round(tr.poses[0].rotation, 3) for tr in plan["tracks"]],
        "surface": plan["table"].surface,
        "camera_shake_px": cfg.camera_shake_px,
        "keypoints_source": "drawn",
    }
    return Sample(
        id=f"demo-{index:04d}",
        split="demo",
        prompt=prompt,
        context=frames[0],
        target=frames[1:],
        keypoints=keypoints,
        motion_area=motion_area_mask(keypoints, (cfg.size, cfg.size)),
        meta=meta,
    )


def load_demo_split(config: DemoConfig | None = None, **overrides) -> list[Sample]:
    """Generate the demo split.

    Args:
        config: Generation settings; defaults to :class:`DemoConfig`.
        **overrides: Field overrides applied on top of ``config`` (e.g. ``num_samples=4``).

    Returns:
        ``config.num_samples`` samples ``demo-0000``, ``demo-0001``, ...
    """
    cfg = replace(config or DemoConfig(), **overrides)
    return [make_demo_sample(i, cfg) for i in range(cfg.num_samples)]
