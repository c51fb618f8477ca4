"""code_interpreter's parts that need no sandbox: the code streamed while the model writes it, and
the links its annotator finds and holds back."""

import json

from supercompat.code_interpreter import CodeInterpreterTool, LinkAnnotator, _partial_code


def test_the_input_streams_exactly_as_written_piece_by_piece():
    full = json.dumps({"code": 'print("😀 é\\n")\nx = "\\u2603"'})
    tool, shown = CodeInterpreterTool(), ""
    for end in range(1, len(full) + 1):
        delta = tool.arguments_delta(full[:end - 1], full[:end])
        shown += delta["input"] if delta else ""
    assert shown == json.loads(full)["code"]


def test_broken_escapes_stop_the_stream_instead_of_failing_the_run():
    assert _partial_code('{"code": "\\ud83d\\n  x"') == ""  # a high surrogate without its low half
    assert _partial_code('{"code": "a\\uZZZZb"') == "a"
    assert CodeInterpreterTool().arguments_delta('{"code": "a', '{"code": "a\\uZZ') is None


def test_links_to_written_files_are_annotated_and_held_while_they_grow():
    links = LinkAnnotator({"/mnt/data/out.csv": "file-1"})
    text = "See [it](sandbox:/mnt/data/out.csv) or sandbox:/mnt/data/other.csv."
    [(start, end, note)] = links.find(text)
    assert text[start:end] == "sandbox:/mnt/data/out.csv" and note["file_path"] == {"file_id": "file-1"}
    assert links.hold("x sandbox:/mnt/da") == len("sandbox:/mnt/da")
    assert links.hold("x sandbox:/mnt/data/out.cs") == len("sandbox:/mnt/data/out.cs")
    assert links.hold("done.") == 0
