//! A lesson that adapts the encoder for one task: the task gets a fresh
//! adapter (its own copy of the top layers), trained contrastively on pairs
//! of the person's examples ([`contrast`]), then a head trained from scratch
//! on the adapter's outputs ([`teach`]). The shared encoder and every other
//! head stay as they are. The page's few-shot training and the CLI's
//! `train --contrast` both come through [`teach_adapted`].

use crate::error::{Error, Result};
use crate::model::encoder::Encoder;
use crate::model::heads::Head;
use crate::training::contrast::contrast;
use crate::training::lesson::{class_indices, taught_classes, teach, Lesson, LessonConfig};
use crate::training::trainer::{Control, Progress};

/// Trains `current`'s task anew on `texts` labelled `labels`: a new adapter
/// as `config.adapt` says (its defaults if it is None), contrastive steps,
/// then the head from scratch with `config`'s other settings. Stop during
/// the contrastive phase keeps the adapter so far and still fits the head
/// (a second); Stop during the head's training keeps its best epoch, as in
/// any lesson.
pub fn teach_adapted(
    encoder: &Encoder,
    current: &Head,
    texts: &[String],
    labels: &[String],
    config: &LessonConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Result<Lesson> {
    if texts.len() != labels.len() {
        return Err(Error::InvalidArgument {
            what: format!("training head {:?}", current.name()),
            reason: format!("{} texts but {} labels", texts.len(), labels.len()),
        });
    }
    let adapt = config.adapt.clone().unwrap_or_default();
    let config = LessonConfig {
        from_scratch: true,
        adapt: Some(adapt.clone()),
        ..config.clone()
    };
    let class_of = class_indices(&taught_classes(current, labels, &config), labels);
    let mut adapter = encoder.trainable_top_layers(adapt.layers)?;
    if let Some(rank) = adapt.lora {
        adapter = adapter.low_rank(rank, adapt.seed)?;
    }
    let states = encoder.states_below(texts, adapter.first())?;
    let pairs = contrast(&adapter, &states, &class_of, &adapt, progress)?;
    adapter.round_to_storage()?;
    let inputs = adapter.infer_all(&states)?;
    // A lesson from scratch keeps only the head's name, shape and encoder:
    // it starts from a head without adapter (no copies of the old one or
    // the new), and the new adapter joins the trained head.
    let meta = current.meta();
    let start = Head::new(
        current.name(),
        current.labels().to_vec(),
        meta.architecture,
        meta.encoder.clone(),
        config.seed,
    )?;
    let mut lesson = if pairs.stopped {
        // The person's Stop ended the pairs; the head still trains to the end.
        teach(&start, &inputs, labels, None, &config, &mut |p| {
            progress(p);
            Control::Continue
        })?
    } else {
        teach(&start, &inputs, labels, None, &config, progress)?
    };
    lesson.head = match lesson.head.take() {
        Some(head) => {
            let mut record = head.meta().training.clone().unwrap_or_default();
            let report = serde_json::to_value(&pairs).unwrap_or_default();
            record.extra.insert("contrast".into(), report);
            let mut head = head.with_adapter(adapter);
            head.set_training(record);
            Some(head)
        }
        None => None,
    };
    Ok(lesson)
}
