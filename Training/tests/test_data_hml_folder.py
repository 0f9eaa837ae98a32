"""The standard HumanML3D / KIT-ML folder layout reader, on a tiny folder written here."""
import numpy as np
import pytest

from kinevox_train.data import hml_folder


def _write_dataset(root, dim):
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    rng = np.random.default_rng(0)
    for clip_id, frames in (("000001", 120), ("M000001", 120), ("000002", 60)):
        np.save(root / "new_joint_vecs" / f"{clip_id}.npy", rng.normal(size=(frames, dim)).astype(np.float32))
    (root / "texts" / "000001.txt").write_text(
        "a person walks forward.#a/DET person/NOUN walk/VERB forward/ADV#0.0#0.0\n"
        "someone waves with the left hand.#someone/PRON wave/VERB#1.0#3.0\n")
    (root / "texts" / "M000001.txt").write_text("a person walks forward.#a/DET#0.0#0.0\n")
    (root / "texts" / "000002.txt").write_text("a man jumps.#a/DET man/NOUN jump/VERB#nan#nan\n")
    (root / "train.txt").write_text("000001\nM000001\n")
    (root / "val.txt").write_text("000002\n")
    (root / "test.txt").write_text("")
    np.save(root / "Mean.npy", np.zeros(dim, np.float32))
    np.save(root / "Std.npy", np.ones(dim, np.float32))


@pytest.mark.parametrize("dim,fps", [(263, hml_folder.FPS["humanml3d"]), (251, hml_folder.FPS["kit"])])
def test_reads_standard_layout(tmp_path, dim, fps):
    _write_dataset(tmp_path, dim)
    train = {item.id: item for item in hml_folder.load_split(tmp_path, "train", fps=fps)}
    assert set(train) == {"000001", "M000001", "000001@1-3"}
    assert train["000001"].captions == ["a person walks forward."]
    assert train["000001"].features.shape == (120, dim)
    segment = train["000001@1-3"]
    assert segment.captions == ["someone waves with the left hand."]
    assert segment.features.shape[0] == int(3 * fps) - int(1 * fps)
    val = hml_folder.load_split(tmp_path, "val", fps=fps)
    assert [(v.id, v.captions) for v in val] == [("000002", ["a man jumps."])]
    assert hml_folder.load_split(tmp_path, "test") == []
    mean, std = hml_folder.load_stats(tmp_path)
    assert mean.shape == std.shape == (dim,)


def test_missing_split_file_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="HumanML3D/KIT-ML layout"):
        hml_folder.load_split(tmp_path, "train")
