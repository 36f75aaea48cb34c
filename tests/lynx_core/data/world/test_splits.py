import pytest

from lynx_core.data.world import splits
from lynx_core.data.world import toyworld as tw


def test_an_unknown_stream_is_an_error_naming_the_streams():
    with pytest.raises(ValueError, match="unknown world stream 'evals'.*captions"):
        tw.sample_scenes(0, 1, "evals")


def test_a_held_out_scene_is_held_out_by_its_picture_and_by_its_description():
    for scene in tw.sample_scenes(0, 64, "eval"):
        assert splits.split_of(scene.key("picture")) == "test"
        assert splits.split_of(scene.key("description")) == "test"
    for scene in tw.sample_scenes(0, 64, "text"):  # text-only: by what it says
        assert splits.split_of(scene.key("description")) == "train"


def test_the_two_keys_hash_independently_so_training_shows_test_descriptions():
    """About a fifth of the training pictures have a test description (other pictures of
    what a test image shows, and where): held out by description only, the test's
    combinations would again be training's gaps."""
    scenes = tw.sample_scenes("0.0", 2048, "captions")
    share = sum(splits.split_of(s.key("description")) == "test" for s in scenes) / len(scenes)
    assert 0.16 < share < 0.24, share


def test_a_clip_and_its_time_reversal_are_one_picture():
    clips = [c for c in tw.sample_clips(0, 64, "tasks") if c.kind != "still"]
    assert all(c.picture == c.reversed().picture for c in clips)
    assert all(splits.split_of(c.reversed().picture) == "train" for c in clips)
