from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.policies.tokenization import decoded_offsets, encode_response


def test_decoded_offsets_equal_encoding_offsets_on_canonical_ids():
    tokenizer = build_number_tokenizer(14, [])
    text = "10\n3\n 7\n"
    ids, offsets = encode_response(tokenizer, text)
    assert decoded_offsets(tokenizer, ids) == offsets


def test_decoded_offsets_follow_a_non_canonical_spelling():
    """"1" "0" "\\n" decodes to "10\\n" like the canonical "10" "\\n", but has a span per sampled token."""
    tokenizer = build_number_tokenizer(14, [])
    one, zero, newline = (tokenizer.convert_tokens_to_ids(t) for t in ("1", "0", "\n"))
    assert tokenizer.decode([one, zero, newline]) == "10\n"
    assert decoded_offsets(tokenizer, [one, zero, newline]) == [(0, 1), (1, 2), (2, 3)]
    assert decoded_offsets(tokenizer, []) == []


def test_encode_responses_equals_one_call_per_text():
    from pavlab.policies.tokenization import encode_responses

    tokenizer = build_number_tokenizer(14, [])
    texts = ["10\n3\n 7\n", "", "12 13\n", "", "1"]
    assert encode_responses(tokenizer, texts) == [encode_response(tokenizer, text) for text in texts]
    assert encode_responses(tokenizer, ["", ""]) == [([], []), ([], [])]
    assert encode_responses(tokenizer, []) == []
