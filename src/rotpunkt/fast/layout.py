"""Layout of the look kernels' parameter vector, shared by the build-time generator
(``generate_look.py``) and the run-time caller (``rotpunkt.look``). No imports: the generator loads
this file while the package is being built.

``look_apply`` and the two statistics kernels take one float32 vector ``prm`` whose entry
``LOOK_PRM.index(name)`` holds the named value (see ``rotpunkt.look._fast_params``).
"""

LOOK_PRM = (
    # luminance weights of linear Rec.2020 (Y of XYZ)
    "ly0", "ly1", "ly2",
    # exposure / white-balance matrix (row-major 3 x 3) of linear Rec.2020
    "m00", "m01", "m02", "m10", "m11", "m12", "m20", "m21", "m22",
    # the vignette grid's nodes per pixel along x and y (its first and last nodes on the image's corners)
    "vg_ax", "vg_ay",
    # local tone mapping: low-res scale (pixels per node), log2 grey, strength, knee, detail - 1, soft^2
    "lt_sub", "lt_anchor", "lt_strength", "lt_knee", "lt_detail1", "lt_soft2",
    # tone curve (look.tone_curve without a free curve): floor of the level, black, 0.18 / (0.18 - black),
    # exponent, toe, (0.18 + toe) / 0.18, shoulder start ys, white point W, 1 / (1 - ys), 1 / (W - ys),
    # shoulder on (1) or a plain clip (0), lift
    "tone_nmin", "tone_black", "tone_bscale", "tone_c", "tone_toe", "tone_toescale", "tone_ys", "tone_w",
    "tone_i1ys", "tone_iwys", "tone_shoulder", "tone_lift",
    # saturation, sat * vibrance
    "sat", "satvib",
    # monochrome weights, shadow / highlight toning directions, balance factors
    "mw0", "mw1", "mw2", "ds0", "ds1", "ds2", "dh0", "dh1", "dh2", "mono_bs", "mono_bh",
    # halation: low-res scale, threshold, 1 / (1 - threshold), tint * strength / luma(tint)
    "hal_sub", "hal_thr", "hal_inv", "ht0", "ht1", "ht2",
    # sharpening amount (its taps are a separate vector)
    "sh_amount",
    # grain: noise grid scale (pixels per node), 4 * strength
    "gr_size", "gr_k",
    # output matrix (row-major 3 x 3), applied after the clip to [0, 1]
    "o00", "o01", "o02", "o10", "o11", "o12", "o20", "o21", "o22",
)

#: stage switches (see generate_look.py: some pick a compiled variant, the others are arguments)
LOOK_FLAGS = ("local_tone", "tone", "saturation", "monochrome", "halation", "sharpen", "grain", "encode")
#: the switches passed as boolean arguments, in argument order (look_sums_glow takes the first three)
LOOK_RUNTIME_FLAGS = ("tone", "saturation", "monochrome", "encode")

#: rows of one parallel task of ``look_apply`` (its tiles are 512 x LOOK_STRIP). A sharpening look runs
#: in place: the rows within the blur's radius of a strip boundary, which two strips read, are passed
#: apart as they were before the pass (``fast.look_edge_rows``).
LOOK_STRIP = 64
