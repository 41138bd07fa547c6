//! A lesson that adapts the encoder for one task: the task gets a fresh
//! adapter (its own copy of the top layers), trained contrastively on pairs
//! of the person's examples ([`contrast`]), then a head trained from scratch
//! on the adapter's outputs ([`teach`]). The shared encoder and every other
//! head stay as they are. The page's few-shot training and the CLI's
//! `train --contrast` both come through [`teach_adapted`].

use candle_core::Tensor;

use crate::error::{Error, Result};
use crate::model::adapter::TopLayers;
use crate::model::encoder::Encoder;
use crate::model::heads::Head;
use crate::training::contrast::contrast;
use crate::training::lesson::{taught_classes, teach, Lesson, LessonConfig};
use crate::training::trainer::{Control, Progress};

/// Trains `current`'s task anew on `texts` labelled `labels`: a new adapter
/// as `config.adapt` says (its defaults if it is None), contrastive steps,
/// then the head from scratch with `config`'s other settings. Stop during the contrastive phase keeps
/// the adapter so far and still fits the head (a second); Stop during the
/// head's training keeps its best epoch, as in any lesson.
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
    let classes = taught_classes(current, labels, &config);
    let class_of: Vec<usize> = labels
        .iter()
        .map(|l| classes.iter().position(|c| c == l).unwrap_or(0))
        .collect();
    let adapter = encoder.trainable_top_layers(adapt.layers)?;
    let states = encoder.states_below(texts, adapter.first())?;
    let pairs = contrast(&adapter, &states, &class_of, &adapt, progress)?;
    adapter.round_to_storage()?;
    let inputs = adapted_inputs(&adapter, &states)?;
    let mut start = current.deep_copy()?;
    start.take_adapter();
    let start = start.with_adapter(adapter);
    let mut lesson = if pairs.stopped {
        // The person's Stop ended the pairs; the head still trains to the end.
        teach(&start, &inputs, labels, None, &config, &mut |p| {
            progress(p);
            Control::Continue
        })?
    } else {
        teach(&start, &inputs, labels, None, &config, progress)?
    };
    if let Some(head) = lesson.head.as_mut() {
        let mut record = head.meta().training.clone().unwrap_or_default();
        record.extra.insert(
            "contrast".into(),
            serde_json::to_value(&pairs).unwrap_or_default(),
        );
        head.set_training(record);
    }
    Ok(lesson)
}

/// The adapter's outputs for each example's states, in chunks of 32.
fn adapted_inputs(adapter: &TopLayers, states: &[Tensor]) -> Result<Tensor> {
    let parts = states
        .chunks(32)
        .map(|chunk| adapter.infer(&chunk.iter().collect::<Vec<_>>()))
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}
