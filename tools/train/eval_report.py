"""The report of tools/eval: the example grids (PNG) and report.md from the measured numbers."""

import os

import numpy as np

import eval_fill as fill

SCALE = 2
GAP = 4
LABEL = 14  # pixels of one label line


def _font():
    from PIL import ImageFont
    return ImageFont.load_default()


def _load(path):
    from PIL import Image
    if not os.path.exists(path):
        return None
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _show_mask(picture, mask):
    """The picture with the hole as a magenta and gray checkerboard."""
    out = picture.copy()
    yy, xx = np.mgrid[0:mask.shape[0], 0:mask.shape[1]]
    checker = np.where((((yy // 4) + (xx // 4)) % 2 == 0)[..., None], [255, 0, 255], [90, 90, 90])
    out[mask] = checker[mask]
    return out


def _grid(path, rows, header, lines_per_tile=0):
    """rows: lists of (picture or None, [label lines]); header: column titles. Tiles at SCALE x."""
    from PIL import Image, ImageDraw
    n_cols = max(len(r) for r in rows)
    tile = fill.SIZE * SCALE
    cell_h = tile + lines_per_tile * LABEL
    width = n_cols * (tile + GAP) + GAP
    height = LABEL + GAP + len(rows) * (cell_h + GAP) + GAP
    canvas = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    font = _font()
    for c, title in enumerate(header):
        draw.text((GAP + c * (tile + GAP), 2), title[:22], fill=(0, 0, 0), font=font)
    for r, row in enumerate(rows):
        y = LABEL + GAP + r * (cell_h + GAP)
        for c, (picture, labels) in enumerate(row):
            x = GAP + c * (tile + GAP)
            if picture is None:
                draw.rectangle((x, y, x + tile - 1, y + tile - 1), fill=(200, 200, 200))
            else:
                canvas.paste(Image.fromarray(np.asarray(picture, np.uint8)).resize((tile, tile), Image.NEAREST), (x, y))
            for k, text in enumerate(labels[:lines_per_tile]):
                draw.text((x, y + tile + k * LABEL + 1), text[:22], fill=(0, 0, 0), font=font)
    canvas.save(path)


def write_grids(out, rec_scenes, rec_pictures, inpaint_scenes, inpaint_cases, text_cases, grid_scenes, grid_text,
                n_levels):
    n = min(8, len(rec_scenes))
    _grid(os.path.join(out, "grid-reconstruction.png"),
          [[(s.image, []) for s in rec_scenes[:n]], [(p, []) for p in rec_pictures[:n]]],
          ["top: held-out", "bottom: encode+decode"])

    rows = []
    for case in inpaint_cases:
        if case["scene"] >= grid_scenes:
            continue
        truth = inpaint_scenes[case["scene"]].image
        row = [(truth, [case["shape"]]), (_show_mask(truth, case["mask"]), [f"seed {case['seed']}"])]
        for t in range(n_levels, 0, -1):
            row.append((_load(os.path.join(case["levels_dir"], f"level-{t}-variant-1.png")), []))
        row += [(case["model"], []), (case["mean_fill"], []), (case["diffusion_fill"], [])]
        rows.append(row)
    header = ["picture", "mask"] + [f"level {t}" for t in range(n_levels, 0, -1)] + ["result", "mean fill",
                                                                                    "diffusion fill"]
    _grid(os.path.join(out, "grid-inpaint.png"), rows, header, lines_per_tile=1)

    rows = []
    for case in text_cases[:grid_text]:
        row = [(case["scene"].image, [f"own: {case['own_group']}"]),
               (_show_mask(case["scene"].image, case["mask"]), [f"target: {case['target']}"])]
        for kind in ("target", "empty", "mismatched"):
            prompt = case["prompts"][kind] or "(empty)"
            row.append((case["results"][kind], [prompt, f"judge: {case['judged'][kind]}"]))
        rows.append(row)
    _grid(os.path.join(out, "grid-text.png"), rows,
          ["picture", "mask", "target prompt", "empty prompt", "mismatched prompt"], lines_per_tile=2)


def _pct(rate, ci):
    return f"{100 * rate:.0f}% [{100 * ci[0]:.0f}, {100 * ci[1]:.0f}]"


def markdown(report):
    rec, inp, text = report["reconstruction"], report["inpainting"], report["text"]
    judge = text["judge"]
    lines = [f"# Evaluation of {report['model']['name'] or os.path.basename(report['model']['path'])}", "",
             f"`{report['command']}` ({report['mode']} mode, seed {report['seed']}; data: {report['data']}, "
             f"{report['held_out']['pictures']} held-out pictures of {report['held_out']['emoji']} emoji; "
             f"{report['seconds']['total']:.0f} s, {report['engine_calls']} calls of the C tool).", "",
             "## VQGAN reconstruction", "",
             f"{rec['pictures']} held-out scenes through `{rec['engine']}`: PSNR {rec['psnr_db']:.2f} dB "
             f"(mean per picture; worst {rec['psnr_db_min']:.2f} dB; of the mean squared error "
             f"{rec['psnr_of_mean_mse_db']:.2f} dB), mean absolute error {rec['mae']:.2f} of 255. "
             f"The PyTorch twin on the same pictures: {rec['twin']['psnr_db']:.2f} dB, "
             f"{100 * rec['twin']['token_agreement']:.1f}% of the tokens equal to the C engine's.", "",
             "## Inpainting by mask shape", "",
             f"{inp['scenes']} held-out scenes x {len(inp['by_shape'])} masks, `imagebart inpaint` with an empty "
             "prompt and a fixed seed per edit (the product's defaults: feather 4 px, colour matching). Errors in "
             "the masked region against the truth (PSNR in dB, higher is better; MAE of 255 and the colour "
             "histogram distance (total variation, 0..1), lower is better). Baselines: mean colour of the hole's "
             "border; diffusion (Laplace) fill from the border.", "",
             "| mask | coverage | model PSNR | mean fill PSNR | diffusion PSNR | model MAE | mean fill MAE "
             "| diffusion MAE | model hist | mean fill hist | diffusion hist |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for shape, row in inp["by_shape"].items():
        cells = [shape, f"{100 * row['mask_coverage']:.0f}%"]
        for key, fmt in (("psnr", "{:.2f}"), ("mae", "{:.1f}"), ("hist", "{:.3f}")):
            cells += [fmt.format(row[m][key]) for m in ("model", "mean_fill", "diffusion_fill")]
        lines.append("| " + " | ".join(cells) + " |")
    kept = inp["unmasked_pixels_kept"]
    grad = report["baselines_on_gradients"]
    lines += ["", f"Unmasked pixels left exactly as they were: {kept['cases']} of {kept['of']} edits. "
              f"Sanity check of the baselines on smooth gradients (no emoji): diffusion fill "
              f"{grad['diffusion_fill']['psnr']:.1f} dB, mean fill {grad['mean_fill']['psnr']:.1f} dB.",
              "", "Examples: `grid-inpaint.png` (picture, mask, every level, result, baselines).", "",
              "## Text-guided replacement", "",
              f"{text['cases']} held-out scenes; the largest emoji's box masked and re-made three times with the "
              "same seed: a prompt naming an emoji (of the training split) of a target group other than the "
              "emoji's own, an empty prompt, and a prompt of a third group. A judge (a small CNN trained here on "
              f"the training split, {len(judge['classes'])} classes: {', '.join(judge['classes'])}) says which "
              "group each edited region shows; the table gives how often it says the TARGET group (95% Wilson "
              "interval).", "",
              f"Guidance {text['guidance']:g} (`--guidance`: logits null + g x (prompted - null), null the "
              "empty prompt's; 1 = none):", "",
              "| prompt | judged target group | of | rate [95% CI] |", "|---|---|---|---|"]
    for kind, row in text["by_prompt"].items():
        lines.append(f"| {kind} | {row['target_group_hits']} | {text['cases']} | {_pct(row['rate'], row['ci95'])} |")
    own = text["mismatched_prompt_own_group"]
    paired = text["paired_target_vs_empty"]
    lines += ["", f"The mismatched prompt's own group was judged in {own['hits']} of {text['cases']} "
              f"({_pct(own['rate'], own['ci95'])}). Paired: target prompt hit and empty missed in "
              f"{paired['target_only']} cases, the reverse in {paired['empty_only']}. The unedited regions were "
              f"judged as the target group in {text['original_region_judged_target']} cases.", "",
              "By guidance (judged target group, of the cases; paired: target prompt hit and empty missed / the "
              "reverse):", "",
              "| guidance | target prompt | empty prompt | mismatched prompt | mismatched prompt's own group "
              "| paired |", "|---|---|---|---|---|---|"]
    for row in report.get("text_by_guidance", []):
        by = row["by_prompt"]
        cells = [f"{row['guidance']:g}"] + [_pct(by[k]["rate"], by[k]["ci95"]) for k in ("target", "empty",
                                                                                       "mismatched")]
        own_g = row["mismatched_prompt_own_group"]
        cells += [_pct(own_g["rate"], own_g["ci95"]),
                  f"{row['paired_target_vs_empty']['target_only']} / {row['paired_target_vs_empty']['empty_only']}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["",
              f"The judge: {judge['examples']} training crops ({100 * judge['reconstructed_share']:.0f}% through "
              f"the model's VQGAN), {judge['epochs']} epochs, {judge['seconds']:.0f} s. Its accuracy on "
              f"{judge['held_out']['examples']} crops of held-out emoji: {100 * judge['held_out']['original']:.1f}%"
              + (f" ({100 * judge['held_out']['reconstructed']:.1f}% after the VQGAN)"
                 if "reconstructed" in judge["held_out"] else "")
              + f"; chance {100 / len(judge['classes']):.1f}%.", "",
              "Examples: `grid-text.png`.", ""]
    sens = report.get("prompt_sensitivity")
    if sens:
        lines += ["## Prompt sensitivity", "",
                  f"How far the target prompt moves each level's token distributions in the hole from the empty "
                  f"prompt's (mean KL in nats over the hole's tokens, the twin teacher-forced on one noise draw; "
                  f"{sens['cases']} of the edits above), against how far a second draw of the noise moves them:", "",
                  "| level | target vs empty prompt | between two noise draws |", "|---|---|---|"]
        for name, row in sens["levels"].items():
            lines.append(f"| {name[len('level'):]} | {row['kl_target_vs_empty_prompt']:.4f} | "
                         f"{row['kl_between_noise_draws']:.4f} |")
        lines.append("")
    lines += ["## Time", "",
              ", ".join(f"{k} {v:.0f} s" for k, v in report["seconds"].items()) + ".", ""]
    return "\n".join(lines)
