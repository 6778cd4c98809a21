//! Imported models: the user's FLUX files checked (roles and memory plan)
//! before anything is stored, stored chunk by chunk in IndexedDB, listed,
//! verified, deleted, and opened for generation straight from the store.

use sculpt_flux::{
    checkpoint::Role,
    formats::ByteSource,
    gpu::GpuPipeline,
    pipeline::{DeviceLimits, FoundPart, LooseModel, MemoryPlan, ModelDefaults, sort_loose_files},
};
use sculpt_gpu::{Gpu, format_bytes};
use std::rc::Rc;

use crate::{
    protocol::{FromEngine, ImportCheck, ImportPart, PlanReport, StoredModel},
    sources::{ImportFiles, WebSource},
    store::{ImportPhase, IndexedDb, ModelRecord, ModelStatus, StoreError, WeightStore},
};

/// The IndexedDB database that holds imported models.
pub const DATABASE: &str = "sculpt-weights";

/// The smallest size a model must fit at to be worth importing.
const SMALLEST_SIZE: usize = 256;

#[derive(Default)]
pub struct Library {
    store: Option<WeightStore<IndexedDb>>,
}

impl Library {
    async fn store(&mut self) -> Result<&WeightStore<IndexedDb>, String> {
        if self.store.is_none() {
            let backend = IndexedDb::open(DATABASE).await.map_err(|error| {
                format!("the browser's storage (IndexedDB) cannot be opened: {error:?}")
            })?;
            self.store = Some(WeightStore::new(backend));
        }
        Ok(self.store.as_ref().expect("opened above"))
    }

    /// Sorts `files` into the model's parts and plans a generation on this
    /// device, reading only headers (and the tokenizers).
    pub async fn check(
        &mut self,
        gpu: &Rc<Gpu>,
        files: &ImportFiles,
    ) -> Result<FromEngine, String> {
        let checked = sort_and_plan(gpu, files).await?;
        Ok(FromEngine::FilesChecked(ImportCheck {
            name: checked.name,
            bytes: checked.parts.iter().map(|part| part.bytes).sum(),
            parts: checked
                .parts
                .iter()
                .map(|part| ImportPart {
                    what: part.what.clone(),
                    files: part.files.clone(),
                    bytes: part.bytes,
                    detail: part.detail.clone(),
                })
                .collect(),
            ignored: checked.ignored,
            importable: checked.plan.fits(),
            plan: plan_report(&checked.plan, checked.note),
        }))
    }

    /// Checks `files` again (they may have changed since), then stores them
    /// as model `name` and verifies every chunk.
    pub async fn import(
        &mut self,
        gpu: &Rc<Gpu>,
        name: &str,
        files: &ImportFiles,
        update: &dyn Fn(FromEngine),
    ) -> Result<FromEngine, String> {
        let checked = sort_and_plan(gpu, files).await?;
        if !checked.plan.fits() {
            return Err(format!(
                "{name} cannot run on this device, so it was not stored:\n{}",
                checked.plan.problems.join("\n")
            ));
        }
        // Only the files the model uses are stored, under the names the
        // check read them by.
        let used: Vec<String> = checked
            .parts
            .iter()
            .flat_map(|part| part.files.iter().cloned())
            .collect();
        let mut sources: Vec<_> = files
            .open()
            .await?
            .into_iter()
            .filter(|source| used.iter().any(|file| file == source.name()))
            .collect();
        let store = self.store().await?;
        store
            .import(name, &mut sources, |progress| {
                update(FromEngine::Importing {
                    phase: match progress.phase {
                        ImportPhase::Resuming => "resuming",
                        ImportPhase::Storing => "storing",
                        ImportPhase::Verifying => "verifying",
                    }
                    .into(),
                    file: progress.file.clone(),
                    done: progress.done,
                    total: progress.total,
                })
            })
            .await
            .map_err(|error| error.to_string())?;
        let (models, stored_bytes) = self.listing().await?;
        Ok(FromEngine::Imported {
            name: name.into(),
            models,
            stored_bytes,
        })
    }

    pub async fn list(&mut self) -> Result<FromEngine, String> {
        let (models, stored_bytes) = self.listing().await?;
        Ok(FromEngine::Models {
            models,
            stored_bytes,
        })
    }

    pub async fn verify(&mut self, name: &str) -> Result<FromEngine, String> {
        let verified = self.store().await?.verify(name, |_| {}).await;
        match verified {
            // A damaged model is now marked so; the listing says which chunk.
            Ok(_) | Err(StoreError::Corrupt { .. }) => {}
            Err(error) => return Err(error.to_string()),
        }
        self.list().await
    }

    pub async fn delete(&mut self, name: &str) -> Result<FromEngine, String> {
        self.store()
            .await?
            .delete(name)
            .await
            .map_err(|error| error.to_string())?;
        self.list().await
    }

    /// A stored model, ready to generate: its files stream from the store,
    /// each chunk checked against its hash as it is read.
    pub async fn open(
        &mut self,
        gpu: &Rc<Gpu>,
        name: &str,
    ) -> Result<GpuPipeline<WebSource>, String> {
        let store = self.store().await?;
        let record = store.record(name).await.map_err(|error| match error {
            StoreError::NoSuchModel(_) => {
                format!("there is no model called \"{name}\": import it, or pick another")
            }
            other => other.to_string(),
        })?;
        let mut sources = Vec::with_capacity(record.files.len());
        for file in &record.files {
            let stored = store
                .open(name, &file.name)
                .await
                .map_err(|error| error.to_string())?;
            sources.push(WebSource::Stored(stored));
        }
        let model = sort_loose_files(sources)
            .await
            .map_err(|error| format!("{name}: {error}"))?;
        let defaults = ModelDefaults {
            name: name.into(),
            ..model.defaults
        };
        GpuPipeline::open(Rc::clone(gpu), defaults, None, model.files)
            .await
            .map_err(|error| error.to_string())
    }

    async fn listing(&mut self) -> Result<(Vec<StoredModel>, u64), String> {
        let store = self.store().await?;
        let records = store.models().await.map_err(|error| error.to_string())?;
        let stored_bytes = records.iter().map(ModelRecord::stored_bytes).sum();
        Ok((records.iter().map(stored_model).collect(), stored_bytes))
    }
}

/// What `check_files` found: the model's parts and its memory plan.
struct Checked {
    name: String,
    parts: Vec<FoundPart>,
    ignored: Vec<String>,
    plan: MemoryPlan,
    /// Set when the plan is for a smaller size than the default.
    note: Option<String>,
}

async fn sort_and_plan(gpu: &Rc<Gpu>, files: &ImportFiles) -> Result<Checked, String> {
    let sources = files.open().await?;
    let LooseModel {
        defaults,
        files,
        parts,
        ignored,
    } = sort_loose_files(sources)
        .await
        .map_err(|error| error.to_string())?;
    // The pipeline reads the headers again and checks every tensor against
    // the configuration the shapes imply; its plan is the one generation uses.
    let pipeline = GpuPipeline::open(Rc::clone(gpu), defaults.clone(), None, files)
        .await
        .map_err(|error| error.to_string())?;
    let limits = DeviceLimits::of(gpu);
    let [width, height] = defaults.resolution;
    let mut plan = pipeline.plan(width, height, false, limits);
    let mut note = None;
    if !plan.fits() {
        let smallest = pipeline.plan(SMALLEST_SIZE, SMALLEST_SIZE, false, limits);
        if smallest.fits() {
            note = Some(format!(
                "At {width}×{height} this model does not fit this device; smaller sizes (down to \
                 {SMALLEST_SIZE}×{SMALLEST_SIZE}) do."
            ));
            plan = smallest;
        }
    }
    Ok(Checked {
        name: defaults.name,
        parts,
        ignored,
        plan,
        note,
    })
}

fn plan_report(plan: &MemoryPlan, note: Option<String>) -> PlanReport {
    let mut rows: Vec<(String, String)> = plan
        .stages
        .iter()
        .map(|stage| {
            (
                stage.role.name().to_string(),
                format!(
                    "weights {}, activations {}",
                    format_bytes(stage.weight_bytes),
                    format_bytes(stage.activation_bytes)
                ),
            )
        })
        .collect();
    let step_bytes = plan
        .stage(Role::Transformer)
        .map_or(0, |stage| stage.activation_bytes);
    let previews = format!("activations {}", format_bytes(plan.preview_bytes));
    rows.push((
        "Step previews".into(),
        if plan.preview_bytes <= step_bytes {
            format!("{previews}, less than a step's: they add nothing to the peak")
        } else {
            previews
        },
    ));
    rows.push((
        "Peak (one phase at a time)".into(),
        format_bytes(plan.peak_bytes),
    ));
    rows.push((
        "This device's largest buffer".into(),
        format_bytes(plan.limits.max_buffer_size),
    ));
    PlanReport {
        width: plan.width,
        height: plan.height,
        rows,
        fits: plan.fits(),
        problems: plan.problems.clone(),
        note,
    }
}

fn stored_model(record: &ModelRecord) -> StoredModel {
    let (state, problem) = match &record.status {
        ModelStatus::Verified => ("verified", None),
        ModelStatus::Importing => (
            "importing",
            Some(format!(
                "unfinished: {} of {} stored; import the same files again to resume",
                format_bytes(record.stored_bytes()),
                format_bytes(record.total_bytes())
            )),
        ),
        ModelStatus::Corrupt { file, chunk } => (
            "corrupt",
            Some(format!(
                "chunk {chunk} of {file} is damaged or missing; delete the model and import it again"
            )),
        ),
    };
    StoredModel {
        name: record.id.clone(),
        state: state.into(),
        problem,
        bytes: record.total_bytes(),
        stored_bytes: record.stored_bytes(),
        files: record.files.iter().map(|file| file.name.clone()).collect(),
    }
}
