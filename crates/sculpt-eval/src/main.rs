//! `sculpt-eval`: the built-in model's quality report; `cargo xtask eval-tiny` runs it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use sculpt_eval::adherence::{self, Outcome, Summary};
use sculpt_eval::checker::Expected;
use sculpt_eval::concepts::{self, GlyphIndex};
use sculpt_eval::diversity::pair_fractions;
use sculpt_eval::generator::{Generator, PipelineGenerator, builtin_manifest};
use sculpt_eval::image::RgbImage;
use sculpt_eval::report::{self, AdherenceRun};
use sculpt_eval::vocab::{Colour, Position, Shape, Size};
use sculpt_eval::{grid, preview, prompts, reference, regression};

#[derive(Parser)]
#[command(name = "sculpt-eval", about = "Measure the built-in model's quality")]
struct Args {
    /// The model's manifest.json (default: the built-in model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// Procedural prompts for adherence.
    #[arg(long, default_value_t = 100)]
    prompts: usize,
    /// Denoising steps (default: the model's).
    #[arg(long)]
    steps: Option<usize>,
    /// Also measure adherence at this few-step count (0: skip).
    #[arg(long, default_value_t = 4)]
    few_steps: usize,
    /// Seed of the procedural prompts (prompt i is generated with seed i).
    #[arg(long, default_value_t = 0)]
    prompt_seed: u64,
    /// Emoji names for the concepts eval (0: skip).
    #[arg(long, default_value_t = 50)]
    emoji: usize,
    /// Seeds for the diversity eval (0: skip).
    #[arg(long, default_value_t = 8)]
    diversity_seeds: usize,
    /// Reference glyphs and training scenes (xtask/train/eval_reference.py's output).
    #[arg(long, default_value = "target/eval/reference")]
    reference: PathBuf,
    /// CI's regression subset alone (the first 10 prompts at 20 steps); exits 1 below its floors.
    #[arg(long)]
    quick: bool,
    /// Only print what the checker sees in these PNGs (no generation).
    #[arg(long, num_args = 1..)]
    analyse: Vec<PathBuf>,
    /// Generate on the GPU pipeline (wgpu) instead of the CPU pipeline (candle); both give the
    /// same pixels within 1/255.
    #[arg(long)]
    gpu: bool,
    /// Fit the model's preview decoder to its autoencoder, write it to this file and report how
    /// close its frames come to the full decoder's (no quality report).
    #[arg(long)]
    fit_preview: Option<PathBuf>,
    /// Where the report, the sample sheet and every image go.
    #[arg(long, default_value = "target/eval")]
    out: PathBuf,
}

/// MODEL.md's sample prompt, used for diversity.
const DIVERSITY_PROMPT: &str = "a large green square in the top left on a white background";

fn diversity_expected() -> Expected {
    Expected {
        shape: Shape::Square,
        colour: Colour::by_name("green").expect("a palette colour"),
        position: Position(0),
        size: Some(Size::Large),
        background: Colour::by_name("white"),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = Args::parse();
    if !args.analyse.is_empty() {
        for path in &args.analyse {
            let analysis = sculpt_eval::checker::analyse(&RgbImage::read_png(path)?);
            println!("{}: {analysis:?}", path.display());
        }
        return Ok(());
    }
    if let Some(out) = &args.fit_preview {
        let manifest = args.model.clone().unwrap_or_else(builtin_manifest);
        return fit_preview(&manifest, out);
    }
    if args.quick {
        args.prompts = regression::PROMPTS;
        args.steps = Some(regression::STEPS);
        args.prompt_seed = regression::PROMPT_SEED;
        (args.few_steps, args.emoji, args.diversity_seeds) = (0, 0, 0);
    }
    let images = args.out.join("images");
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create {}", images.display()))?;
    let manifest = args.model.clone().unwrap_or_else(builtin_manifest);
    let mut generator: Box<dyn Generator> = if args.gpu {
        Box::new(PipelineGenerator::open_gpu(&manifest)?)
    } else {
        Box::new(PipelineGenerator::open_cpu(&manifest)?)
    };
    let steps = args.steps.unwrap_or(generator.default_steps());
    eprintln!("sculpt-eval: {}", generator.describe());

    let mut md = format!(
        "# sculpt-tiny quality (`cargo xtask eval-tiny`)\n\n\
         Model: {}. Engine: {}. Machine: {}. Date: {}. Guidance: the model's (CFG from its manifest).\n\n",
        manifest.display(),
        generator.describe(),
        machine(),
        today(),
    );

    // The quick subset keeps its own files, so that it never overwrites a full run's.
    let name = if args.quick { "quick" } else { "report" };
    let prompt_list = prompts::procedural(args.prompts, args.prompt_seed);
    let mut runs = Vec::new();
    for (label, s) in [("default", steps), ("few", args.few_steps)] {
        if s == 0 || args.prompts == 0 {
            continue;
        }
        let started = Instant::now();
        let outcomes = adherence::run(generator.as_mut(), &prompt_list, s, 0, |i, o| {
            progress(&format!("adherence {s} steps"), i, args.prompts, &started);
            let _ = o
                .image
                .write_png(&images.join(format!("{name}-adherence-{label}-{i:03}.png")));
        })?;
        runs.push(AdherenceRun {
            steps: s,
            outcomes,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    if !runs.is_empty() {
        md += &format!(
            "## Prompt adherence\n\n{} seeded procedural prompts (prompt seed {}; prompt i \
             generated with seed i), one shape each, in the training captions' phrasings.\n\n{}\n",
            args.prompts,
            args.prompt_seed,
            report::adherence_table(&runs)
        );
        for run in &runs {
            md += &format!(
                "Shapes right at {} steps, by the shape and size asked for: {}.\n\n",
                run.steps,
                report::shapes_by_kind(&run.outcomes)
            );
        }
    }
    let scenes_path = args.reference.join("scenes.json");
    if !args.quick && scenes_path.exists() {
        let scenes = reference::read_scenes(&args.reference)?;
        let check_all = |images: Vec<(Expected, RgbImage)>| {
            let outcomes: Vec<Outcome> = images
                .into_iter()
                .enumerate()
                .map(|(i, (expected, image))| {
                    let prompt = prompts::Prompt {
                        text: format!("training scene {i}"),
                        expected,
                    };
                    adherence::check(prompt, 0, image)
                })
                .collect();
            format!(
                "{}; the shape by kind: {}",
                report::summary_line(&Summary::of(&outcomes)),
                report::shapes_by_kind(&outcomes)
            )
        };
        let count = scenes.len();
        let started = Instant::now();
        let round_trips = scenes
            .iter()
            .map(|(expected, image)| Ok((*expected, generator.round_trip(image)?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        eprintln!(
            "autoencoder round trips: {count} ({:.0} s)",
            started.elapsed().as_secs_f64()
        );
        md += &format!(
            "The checker on {count} one-shape training scenes drawn by data.py (its ceiling): {}.\n\n\
             The same scenes through the model's autoencoder and back (encoded, then decoded with \
             no denoising step: what the decoder can show at best): {}.\n\n",
            check_all(scenes),
            check_all(round_trips),
        );
    }

    let mut diversity_images = Vec::new();
    if args.diversity_seeds > 0 {
        let started = Instant::now();
        let mut outcomes = Vec::new();
        for k in 0..args.diversity_seeds {
            let seed = 1000 + k as u64;
            let image = generator.generate(DIVERSITY_PROMPT, seed, steps)?;
            image.write_png(&images.join(format!("diversity-{k}.png")))?;
            let prompt = prompts::Prompt {
                text: DIVERSITY_PROMPT.into(),
                expected: diversity_expected(),
            };
            outcomes.push(adherence::check(prompt, seed, image));
            progress("diversity", k, args.diversity_seeds, &started);
        }
        diversity_images = outcomes.iter().map(|o| o.image.clone()).collect();
        let fractions = pair_fractions(&diversity_images);
        md += &format!(
            "## Diversity\n\n{}\n",
            report::diversity_section(DIVERSITY_PROMPT, steps, &outcomes, &fractions)
        );
    }

    let mut concept_images = Vec::new();
    if args.emoji > 0 {
        if !args.reference.join("glyphs.json").exists() {
            md += "## Concepts\n\nSkipped: no reference glyphs (run through `cargo xtask eval-tiny`, \
                   which draws them with the training data's code).\n\n";
        } else {
            let glyphs = reference::read_glyphs(&args.reference)?;
            let index = GlyphIndex::new(&glyphs);
            let ceiling = concepts::ceiling(&index, &glyphs, 2);
            let chosen = concepts::choose(glyphs.names.len(), args.emoji, 0);
            let started = Instant::now();
            let outcomes = concepts::run(generator.as_mut(), &index, &chosen, steps, 0, |i, o| {
                progress("concepts", i, chosen.len(), &started);
                let _ = o
                    .image
                    .write_png(&images.join(format!("concept-{i:03}.png")));
            })?;
            md += &format!(
                "## Concepts\n\n{}\n",
                report::concepts_section(&outcomes, steps, glyphs.names.len(), ceiling)
            );
            concept_images = outcomes.into_iter().map(|o| o.image).collect();
        }
    }

    let mut verdict = Ok(());
    if args.quick {
        let summary = Summary::of(&runs[0].outcomes);
        verdict = regression::judge(&summary);
        md += &format!(
            "## CI regression subset\n\nFloors of {}: adherence ≥ {}, colour ≥ {}, position ≥ {}, \
             background ≥ {}: {}.\n\n",
            regression::PROMPTS,
            regression::MIN_ADHERES,
            regression::MIN_COLOUR,
            regression::MIN_POSITION,
            regression::MIN_BACKGROUND,
            match &verdict {
                Ok(()) => "passed".to_string(),
                Err(why) => format!("FAILED ({why})"),
            }
        );
    }

    let mut sections: Vec<Vec<&RgbImage>> = Vec::new();
    let mut legend = Vec::new();
    for run in &runs {
        let n = run.outcomes.len().min(20);
        sections.push(run.outcomes[..n].iter().map(|o| &o.image).collect());
        legend.push(format!(
            "adherence prompts 0–{} at {} steps",
            n - 1,
            run.steps
        ));
    }
    if !diversity_images.is_empty() {
        sections.push(diversity_images.iter().collect());
        legend.push("diversity seeds".to_string());
    }
    if !concept_images.is_empty() {
        let n = concept_images.len().min(20);
        sections.push(concept_images[..n].iter().collect());
        legend.push(format!("concepts 0–{}", n - 1));
    }
    if let Some(sheet) = grid::sheet(&sections, 10) {
        let sheet_name = format!("{name}-samples.png");
        sheet.write_png(&args.out.join(&sheet_name))?;
        md += &format!(
            "Sample sheet `{sheet_name}`, rows of 10, in order: {}.\n\n",
            legend.join("; ")
        );
    }
    for run in &runs {
        md += &format!(
            "<details><summary>Every prompt at {} steps</summary>\n\n{}\n</details>\n\n",
            run.steps,
            report::adherence_details(run)
        );
    }
    let report_path = args.out.join(format!("{name}.md"));
    std::fs::write(&report_path, &md)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    println!("{md}");
    eprintln!("sculpt-eval: wrote {}", report_path.display());
    if let Err(why) = verdict {
        eprintln!("sculpt-eval: the regression subset failed: {why}");
        std::process::exit(1);
    }
    Ok(())
}

/// Prompts the preview is fitted on: training-like scenes drawn from another seed than the
/// eval's, and emoji names.
const FIT_PROMPT_SEED: u64 = 1000;
const FIT_EMOJI: [&str; 12] = [
    "cat face",
    "red apple",
    "fire",
    "dragon",
    "rainbow",
    "sunflower",
    "octopus",
    "rocket",
    "snowman",
    "watermelon",
    "frog face",
    "an emoji of a pine decoration",
];

fn fit_preview(manifest: &Path, out: &Path) -> anyhow::Result<()> {
    let mut generator = PipelineGenerator::open_cpu(manifest)?;
    let steps = generator.default_steps();
    let started = Instant::now();
    let mut fit_prompts: Vec<String> = prompts::procedural(60, FIT_PROMPT_SEED)
        .into_iter()
        .map(|p| p.text)
        .collect();
    fit_prompts.extend(FIT_EMOJI.iter().map(|name| name.to_string()));
    // The later half of each run: what a preview must draw well.
    let (size, fit_pairs) = preview::collect(
        generator.pipeline_mut(),
        &fit_prompts,
        7,
        steps,
        steps / 2,
        true,
    )?;
    eprintln!(
        "fit pairs: {} ({:.0} s)",
        fit_pairs.len(),
        started.elapsed().as_secs_f64()
    );
    // Held out: the eval's own prompts, the last quarter of the steps.
    let eval_prompts: Vec<String> = prompts::procedural(20, 0)
        .into_iter()
        .map(|p| p.text)
        .collect();
    let from = steps - steps / 4;
    let (_, eval_pairs) = preview::collect(
        generator.pipeline_mut(),
        &eval_prompts,
        0,
        steps,
        from,
        false,
    )?;
    let mut chosen = None;
    for kernel in [1, 3] {
        let fitted = preview::fit(&fit_pairs, size, kernel, 8, 1e-4)?;
        let on_fit = preview::measure(&fitted, size, &fit_pairs);
        let held_out = preview::measure(&fitted, size, &eval_pairs);
        println!(
            "kernel {kernel}: {} weights, {} multiply-adds per frame; PSNR against the full decode: \
             fit set {:.2} dB mean; eval prompts, last quarter of the steps ({} frames): {:.2} dB \
             mean, {:.2} dB lowest",
            fitted.weight.len() + fitted.bias.len(),
            fitted.multiply_adds(size.height, size.width),
            on_fit.mean_psnr,
            held_out.frames,
            held_out.mean_psnr,
            held_out.min_psnr,
        );
        chosen = Some(fitted);
    }
    let chosen = chosen.expect("kernels were fitted");
    std::fs::write(out, chosen.to_safetensors())
        .with_context(|| format!("cannot write {}", out.display()))?;
    eprintln!(
        "sculpt-eval: wrote the kernel-{} preview to {} ({:.0} s)",
        chosen.kernel,
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn progress(what: &str, i: usize, of: usize, started: &Instant) {
    eprintln!(
        "{what}: {}/{of} ({:.0} s)",
        i + 1,
        started.elapsed().as_secs_f64()
    );
}

fn today() -> String {
    std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// CPU model and core count, from /proc/cpuinfo where there is one.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string(Path::new("/proc/cpuinfo"))
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    format!("{model}, {cores} cores")
}
