//! Teaching a head in the page's way (src/teach.rs): new classes from a few
//! examples, old classes kept by replay, replay files, and bad lessons refused.

mod common;

use candle_core::{Device, Tensor};
use sentence_multitask::model::head_inputs;
use sentence_multitask::model::heads::Head;
use sentence_multitask::training::crossval::cross_validate;
use sentence_multitask::training::lesson::{
    lesson_classes, new_task_head, teach, Lesson, LessonConfig,
};
use sentence_multitask::training::replay::ReplaySet;
use sentence_multitask::training::trainer::{Control, Progress};

use common::{encoder, fixture, weights_dir};

fn default_head(name: &str) -> Head {
    Head::read(
        &weights_dir().join(format!("heads/{name}.json")),
        &encoder().encoder_ref(),
    )
    .expect("default head loads")
}

fn replay_file(path: &std::path::Path) -> ReplaySet {
    let bytes = std::fs::read(path).expect("replay file");
    ReplaySet::from_safetensors(
        &bytes,
        &encoder().encoder_ref(),
        &path.display().to_string(),
    )
    .expect("replay file loads")
}

fn embed(texts: &[&str]) -> Tensor {
    let rows: Vec<f32> = encoder()
        .embed(texts, 8)
        .expect("embed")
        .into_iter()
        .flat_map(|e| e.vector)
        .collect();
    Tensor::from_vec(rows, (texts.len(), 384), &Device::Cpu).unwrap()
}

/// What `head` reads for `texts`: its adapter's outputs when it has one,
/// else the embeddings (as the page and the CLI give a lesson).
fn inputs(head: &Head, texts: &[&str]) -> Tensor {
    head_inputs(encoder(), head, texts).expect("head inputs")
}

fn labels_of(head: &Head, texts: &[&str]) -> Vec<String> {
    sentence_multitask::training::trainer::predict_classes(head, &inputs(head, texts))
        .unwrap()
        .into_iter()
        .map(|c| head.labels()[c].clone())
        .collect()
}

const COOKING: [&str; 8] = [
    "Whisk the eggs with sugar until pale, then fold in the flour.",
    "Simmer the tomato sauce with garlic and basil for twenty minutes.",
    "Knead the dough, let it rise for an hour, then bake at 220 degrees.",
    "Season the chicken thighs with paprika and roast them until crisp.",
    "Chop the onions finely and fry them in butter until golden.",
    "This lentil soup recipe needs cumin, carrots and a squeeze of lemon.",
    "Marinate the tofu in soy sauce and ginger before grilling it.",
    "Blanch the green beans, then toss them with toasted almonds.",
];
const COOKING_HELD_OUT: [&str; 6] = [
    "Stir the risotto slowly, adding warm stock one ladle at a time.",
    "Brush the pastry with beaten egg and bake until it puffs up.",
    "Grate the parmesan over the pasta and add a pinch of black pepper.",
    "Let the caramel bubble until it turns a deep amber colour.",
    "Sear the steak in a hot pan for two minutes on each side.",
    "Peel and dice the potatoes, then boil them in salted water.",
];

/// `teach` of the shipped topic head on the eight cooking sentences.
fn teach_cooking(
    replay: Option<&ReplaySet>,
    config: &LessonConfig,
    progress: &mut dyn FnMut(&Progress) -> Control,
) -> Lesson {
    let labels = vec!["Cooking".to_string(); COOKING.len()];
    let current = default_head("topic");
    teach(
        &current,
        &inputs(&current, &COOKING),
        &labels,
        replay,
        config,
        progress,
    )
    .expect("training runs")
}

#[test]
fn a_fifth_topic_from_8_examples_keeps_the_four_default_classes() {
    let current = default_head("topic");
    let replay = replay_file(&weights_dir().join("replay/topic.safetensors"));
    let held_out = replay_file(&fixture("topic-heldout.safetensors"));
    assert_eq!(held_out.labels, current.labels());
    let before = held_out.accuracy(&current).unwrap();
    let lesson = teach_cooking(Some(&replay), &LessonConfig::default(), &mut |_| {
        Control::Continue
    });
    let head = lesson.head.expect("a finished lesson has a head");
    assert_eq!(
        head.labels(),
        ["World", "Sports", "Business", "Sci/Tech", "Cooking"]
    );
    let after = held_out.accuracy(&head).unwrap();
    eprintln!(
        "held-out accuracy of the four default classes: {before:.4} before, {after:.4} after"
    );
    assert!(
        after >= before - 0.02,
        "held-out accuracy of the four default classes fell from {before:.4} to {after:.4}"
    );
    assert_eq!(
        labels_of(&head, &COOKING_HELD_OUT),
        vec!["Cooking"; COOKING_HELD_OUT.len()]
    );
    // Too few to hold any out for validation: all 8 train.
    assert_eq!(lesson.examples_per_class["Cooking"], 8);
    // Three quarters of the 128 replayed a class train; the rest validate.
    assert_eq!(lesson.examples_per_class["World"], 96);
}

#[test]
fn a_new_three_class_task_from_scratch() {
    // Over the topic head's place: the sentiment head's adapter would keep
    // feeding it features tuned to sentiment.
    let current = default_head("topic");
    let train: [(&str, &str); 12] = [
        (
            "Heavy rain and strong winds are expected tonight.",
            "weather",
        ),
        ("Sunny skies with a high of 25 degrees tomorrow.", "weather"),
        (
            "Snow will fall in the mountains over the weekend.",
            "weather",
        ),
        ("A thick fog covers the valley this morning.", "weather"),
        ("Add two cups of flour and a pinch of salt.", "recipe"),
        ("Bake the cake for 40 minutes at 180 degrees.", "recipe"),
        ("Fry the garlic gently in olive oil.", "recipe"),
        ("Mix the butter and sugar until creamy.", "recipe"),
        ("The guitarist played a long solo at the concert.", "music"),
        ("Her new album mixes jazz with electronic beats.", "music"),
        ("The orchestra rehearsed the symphony all week.", "music"),
        ("He sang the chorus while the drummer kept time.", "music"),
    ];
    let texts: Vec<&str> = train.iter().map(|(t, _)| *t).collect();
    let labels: Vec<String> = train.iter().map(|(_, l)| l.to_string()).collect();
    let config = LessonConfig {
        from_scratch: true,
        ..LessonConfig::default()
    };
    let mut epochs = 0;
    let lesson = teach(
        &current,
        &inputs(&current, &texts),
        &labels,
        None,
        &config,
        &mut |p| {
            if matches!(p, Progress::Epoch { .. }) {
                epochs += 1;
            }
            Control::Continue
        },
    )
    .unwrap();
    assert!(epochs > 0);
    let head = lesson.head.expect("a finished lesson has a head");
    assert_eq!(head.labels(), ["weather", "recipe", "music"]);
    assert_eq!(
        labels_of(
            &head,
            &[
                "Thunderstorms will move in by the afternoon.",
                "Stir in the cream and simmer the sauce.",
                "The band released a live record of their tour."
            ]
        ),
        ["weather", "recipe", "music"]
    );
}

/// Stop before the first epoch ends: no new head, whatever the lesson was
/// (a new class, a replay set); the caller keeps the current one.
#[test]
fn stop_at_the_first_step_leaves_no_new_head() {
    let replay = replay_file(&weights_dir().join("replay/topic.safetensors"));
    let mut steps = 0;
    let lesson = teach_cooking(Some(&replay), &LessonConfig::default(), &mut |p| {
        assert!(
            matches!(p, Progress::Step { .. }),
            "stopped before an epoch"
        );
        steps += 1;
        Control::Stop
    });
    assert_eq!(steps, 1);
    assert!(lesson.head.is_none());
    assert_eq!(lesson.report.epochs_run, 0);
    assert!(lesson.report.stopped_early);
}

/// Stop after the first epoch: that epoch's weights are kept, not the
/// starting ones and not half of the second epoch.
#[test]
fn stop_after_an_epoch_keeps_that_epoch() {
    let config = LessonConfig {
        epochs: Some(1),
        ..LessonConfig::default()
    };
    let one_epoch = teach_cooking(None, &config, &mut |_| Control::Continue)
        .head
        .unwrap();
    let mut epochs = 0;
    let stopped = teach_cooking(None, &LessonConfig::default(), &mut |p| {
        if matches!(p, Progress::Epoch { .. }) {
            epochs += 1;
        }
        if epochs == 1 && matches!(p, Progress::Step { .. }) {
            Control::Stop
        } else {
            Control::Continue
        }
    });
    assert_eq!(stopped.report.epochs_run, 1);
    let x = embed(&COOKING_HELD_OUT);
    let logits = |h: &Head| h.logits(&x, None).unwrap().to_vec2::<f32>().unwrap();
    assert_eq!(logits(&stopped.head.unwrap()), logits(&one_epoch));
}

/// A task of the person's own starts from the page's class list, then the
/// examples' new labels; it needs two classes.
#[test]
fn a_new_task_starts_from_its_classes_and_learns() {
    let encoder_ref = encoder().encoder_ref();
    let config = LessonConfig {
        classes: Some(vec!["recipe".into()]),
        ..LessonConfig::default()
    };
    let texts = [
        "Bake the cake for forty minutes.",
        "The band played a long encore.",
    ];
    let labels = vec!["recipe".to_string(), "music".into()];
    let start = new_task_head("my-task", &labels, &config, encoder_ref.clone()).unwrap();
    assert_eq!(start.labels(), ["recipe", "music"]);
    assert_eq!(start.name(), "my-task");
    let lesson = teach(&start, &embed(&texts), &labels, None, &config, &mut |_| {
        Control::Continue
    })
    .unwrap();
    assert_eq!(
        labels_of(&lesson.head.unwrap(), &texts),
        ["recipe", "music"]
    );

    let one = new_task_head(
        "my-task",
        &labels[..1],
        &LessonConfig::default(),
        encoder_ref.clone(),
    );
    assert!(one.unwrap_err().to_string().contains("at least 2 classes"));
    let bad = new_task_head("my task", &labels, &LessonConfig::default(), encoder_ref);
    assert!(bad.unwrap_err().to_string().contains("letters, digits"));
}

/// Cross-validation holds each example out once: the confusion matrix
/// counts every example, and the wrong list is its off-diagonal.
#[test]
fn cross_validation_holds_every_example_out_once() {
    let texts = [
        "Bake the cake for forty minutes.",
        "Whisk the eggs with sugar.",
        "Simmer the sauce until thick.",
        "The band played a long encore.",
        "She sang the chorus twice.",
        "The drummer kept perfect time.",
    ];
    let labels: Vec<String> = ["recipe", "recipe", "recipe", "music", "music", "music"]
        .map(String::from)
        .to_vec();
    let config = LessonConfig::default();
    let start = new_task_head("t", &labels, &config, encoder().encoder_ref()).unwrap();
    let cv = cross_validate(&start, &embed(&texts), &labels, None, &config)
        .unwrap()
        .expect("3 a class: 3 folds");
    assert_eq!(cv.folds, 3);
    assert_eq!(cv.metrics.count, 6);
    let off: usize = (0..2)
        .flat_map(|g| (0..2).map(move |p| (g, p)))
        .filter(|(g, p)| g != p)
        .map(|(g, p)| cv.metrics.confusion[g][p])
        .sum();
    assert_eq!(cv.wrong.len(), off);
    assert!(cv.metrics.accuracy >= 5.0 / 6.0, "{:?}", cv.metrics);
    let single = [labels[0].clone(), labels[3].clone(), labels[4].clone()];
    let none = cross_validate(&start, &embed(&texts[..3]), &single, None, &config).unwrap();
    assert!(
        none.is_none(),
        "a class with one example cannot be held out"
    );
}

/// What the page reports after a lesson counts only the shipped classes the
/// person kept.
#[test]
fn replay_accuracy_among_the_kept_classes() {
    let set = replay_file(&weights_dir().join("replay/topic.safetensors"));
    let head = default_head("topic");
    let all = set.accuracy(&head).unwrap();
    let kept = ["Sports".to_string(), "Business".into()];
    let some = set.accuracy_among(&head, &kept).unwrap().unwrap();
    assert!(
        (0.8..=1.0).contains(&some) && (0.8..=1.0).contains(&all),
        "{some} {all}"
    );
    assert_ne!(some, all);
    assert_eq!(
        set.accuracy_among(&head, &["Cooking".into()]).unwrap(),
        None
    );
}

#[test]
fn with_labels_keeps_the_old_classes_weights_exactly() {
    let current = default_head("topic");
    let grown = current
        .with_labels(
            lesson_classes(current.labels(), &["Cooking".into()], false),
            7,
        )
        .unwrap();
    let x = embed(&COOKING);
    let old = current.logits(&x, None).unwrap().to_vec2::<f32>().unwrap();
    let new = grown.logits(&x, None).unwrap().to_vec2::<f32>().unwrap();
    for (a, b) in old.iter().zip(&new) {
        assert_eq!(a[..], b[..4]);
    }
}

#[test]
fn replay_files_round_trip_and_foreign_or_broken_ones_are_refused() {
    let set = replay_file(&weights_dir().join("replay/sentiment.safetensors"));
    assert_eq!(set.labels, ["negative", "positive"]);
    let encoder_ref = encoder().encoder_ref();
    let bytes = set.to_safetensors(&encoder_ref).unwrap();
    let again = ReplaySet::from_safetensors(&bytes, &encoder_ref, "again").unwrap();
    assert_eq!(again.classes, set.classes);
    assert_eq!(
        again.embeddings.to_vec2::<f32>().unwrap(),
        set.embeddings.to_vec2::<f32>().unwrap()
    );
    let mut foreign = encoder_ref.clone();
    foreign.id = "some/other-model".into();
    let err = ReplaySet::from_safetensors(&bytes, &foreign, "x.safetensors").unwrap_err();
    assert!(err.to_string().contains("other-model"), "{err}");
    let err =
        ReplaySet::from_safetensors(&bytes[..bytes.len() / 2], &encoder_ref, "cut.safetensors")
            .unwrap_err();
    assert!(err.to_string().contains("cut.safetensors"), "{err}");
}

#[test]
fn bad_lessons_are_refused_with_the_reason() {
    let current = default_head("sentiment");
    let go = &mut |_: &sentence_multitask::training::trainer::Progress| Control::Continue;
    let none = Tensor::zeros((0, 384), candle_core::DType::F32, &Device::Cpu).unwrap();
    let err = teach(&current, &none, &[], None, &LessonConfig::default(), go).unwrap_err();
    assert!(err.to_string().contains("no examples"), "{err}");
    let one = embed(&["just one class"]);
    let scratch = LessonConfig {
        from_scratch: true,
        ..LessonConfig::default()
    };
    let err = teach(&current, &one, &["only".into()], None, &scratch, go).unwrap_err();
    assert!(err.to_string().contains("at least 2 classes"), "{err}");
    let nan = Tensor::from_vec(vec![f32::NAN; 384], (1, 384), &Device::Cpu).unwrap();
    let err = teach(
        &current,
        &nan,
        &["positive".into()],
        None,
        &LessonConfig::default(),
        go,
    )
    .unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
    let err = teach(
        &current,
        &one,
        &[" ".into()],
        None,
        &LessonConfig::default(),
        go,
    )
    .unwrap_err();
    assert!(err.to_string().contains("empty label"), "{err}");
}
