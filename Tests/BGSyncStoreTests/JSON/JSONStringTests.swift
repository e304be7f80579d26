import Testing
import BGSyncStore

@Suite struct JSONStringTests {
    @Test func quotesAndEscapesMinimally() {
        #expect(JSONString.quoted("plain") == #""plain""#)
        #expect(JSONString.quoted("") == #""""#)
        #expect(JSONString.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONString.quoted("\u{08}\u{0C}\n\r\t") == #""\b\f\n\r\t""#)
        #expect(JSONString.quoted("\u{0}\u{1B}\u{1F}") == #""\u0000\u001b\u001f""#)
        #expect(JSONString.quoted("/é😀\u{7F}") == "\"/é😀\u{7F}\"")
    }

    @Test func appendsToStringsAndBytesIdentically() {
        for sample in ["", "abc", "tab\there", "q\"uote", "\u{1}é\\😀"] {
            var text = "x"
            JSONString.append(sample, to: &text)
            var bytes: [UInt8] = [UInt8(ascii: "x")]
            JSONString.append(sample, to: &bytes)
            #expect(Array(text.utf8) == bytes)
            #expect(text == "x" + JSONString.quoted(sample))
            #expect(JSONValue.string(sample).serialized == JSONString.quoted(sample))
        }
    }
}
