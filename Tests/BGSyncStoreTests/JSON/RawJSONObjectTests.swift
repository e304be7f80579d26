import Testing
import BGSyncStore

@Suite struct RawJSONObjectTests {
    private func text(_ bytes: [UInt8], _ range: Range<Int>) -> String {
        String(decoding: bytes[range], as: UTF8.self)
    }

    @Test func splitsTopLevelMembersOfTheWholeInput() throws {
        let bytes = Array(#" {"_id":"doc","n":1.0,"nested":{"_rev":"x","a":[1,2]},"n":null} "#.utf8)
        let members = try RawJSONObject.members(ofObject: bytes)
        #expect(members.map(\.key) == ["_id", "n", "nested", "n"])
        #expect(members.map { text(bytes, $0.keyRange) } == [#""_id""#, #""n""#, #""nested""#, #""n""#])
        #expect(members.map { text(bytes, $0.valueRange) } == [#""doc""#, "1.0", #"{"_rev":"x","a":[1,2]}"#, "null"])
    }

    @Test func splitsMembersOfASubRangeWithAbsoluteRanges() throws {
        let prefix = #"{"docs":["#
        let object = #" { "a" : 1 , "b\u0041" : [ true ] } "#
        let bytes = Array((prefix + object + "]}").utf8)
        let range = prefix.utf8.count..<(prefix.utf8.count + object.utf8.count)
        let members = try RawJSONObject.members(ofObject: bytes, in: range)
        #expect(members.count == 2)
        #expect(members[0].key == "a")
        #expect(members[0].keyRange.lowerBound == prefix.utf8.count + 3)
        #expect(text(bytes, members[0].valueRange) == "1")
        #expect(members[1].key == "bA")
        #expect(text(bytes, members[1].keyRange) == #""b\u0041""#)
        #expect(text(bytes, members[1].valueRange) == "[ true ]")
    }

    @Test func emptyObjectHasNoMembers() throws {
        #expect(try RawJSONObject.members(ofObject: Array("{}".utf8)).isEmpty)
    }

    @Test func rejectsNonObjectsInvalidValuesAndTrailingText() {
        #expect(throws: JSONError(offset: 0, message: "expected object but found array")) {
            try RawJSONObject.members(ofObject: Array("[]".utf8))
        }
        #expect(throws: JSONError(offset: 6, message: "leading zeros are not allowed in numbers")) {
            try RawJSONObject.members(ofObject: Array(#"{"a":[01]}"#.utf8))
        }
        #expect(throws: JSONError(offset: 3, message: "unexpected trailing characters after JSON value")) {
            try RawJSONObject.members(ofObject: Array("{} {}".utf8), in: 0..<4)
        }
        #expect(throws: JSONError(offset: 6, message: "unexpected end of input")) {
            try RawJSONObject.members(ofObject: Array(#"{"a":1}"#.utf8), in: 0..<6)
        }
        #expect(throws: JSONError.self) {
            try RawJSONObject.members(ofObject: Array("{}".utf8), in: 0..<3)
        }
    }
}
