import Testing
import BGSyncStore

@Suite struct JSONValueTests {
    @Test func roundTripKeepsNumberTextAndKeyOrder() throws {
        let text = #"{"b":1.0,"a":12345678901234567890,"c":1e-7,"d":-0.5E+10}"#
        let value = try JSONValue.parse(text)
        #expect(value.serialized == text)
        #expect(value.objectValue?.keys == ["b", "a", "c", "d"])
        #expect(value["b"] == .number("1.0"))
        #expect(value["a"] == .number("12345678901234567890"))
        #expect(value["c"] == .number("1e-7"))
        #expect(value["d"] == .number("-0.5E+10"))
    }

    @Test func serializationIsCompact() throws {
        let value = try JSONValue.parse(" {\n \"a\" : [ 1 , true , null , \"x\" ] ,\t\"b\" : { } , \"c\" : [ ] }\r\n")
        #expect(value.serialized == #"{"a":[1,true,null,"x"],"b":{},"c":[]}"#)
        #expect(value.serializedBytes == Array(value.serialized.utf8))
    }

    @Test func duplicateKeysAreKeptInOrder() throws {
        let text = #"{"a":1,"b":2,"a":3}"#
        let value = try JSONValue.parse(text)
        #expect(value.serialized == text)
        #expect(value.objectValue?.count == 3)
        #expect(value["a"] == .number("1"))  // first wins for lookup
    }

    @Test func scalarsAtTopLevel() throws {
        #expect(try JSONValue.parse("null") == .null)
        #expect(try JSONValue.parse(" true ") == .bool(true))
        #expect(try JSONValue.parse("false") == .bool(false))
        #expect(try JSONValue.parse("-0") == .number("-0"))
        #expect(try JSONValue.parse("0.5e10") == .number("0.5e10"))
        #expect(try JSONValue.parse(#""x""#) == .string("x"))
    }

    @Test func parsesBytesAndSlices() throws {
        let bytes = Array(#"xx[1,"é"]yy"#.utf8)
        #expect(try JSONValue.parse(Array(bytes[2..<(bytes.count - 2)])) == [1, "é"])
        #expect(try JSONValue.parse(bytes[2..<(bytes.count - 2)]) == [1, "é"])
    }

    @Test func escapesAreDecoded() throws {
        #expect(try JSONValue.parse(#""\u00e9""#) == .string("é"))
        #expect(try JSONValue.parse(#""\u00E9""#) == .string("é"))
        #expect(try JSONValue.parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(try JSONValue.parse(#""\uD83D\uDE00x""#) == .string("😀x"))
        #expect(try JSONValue.parse(#""\"\\\/\b\f\n\r\t""#) == .string("\"\\/\u{08}\u{0C}\n\r\t"))
        #expect(try JSONValue.parse(#""a\u0000b""#) == .string("a\u{0}b"))
        #expect(try JSONValue.parse(#""\u20ac and \u0041""#) == .string("€ and A"))
        #expect(try JSONValue.parse(#""raw é 😀 \u00e9""#) == .string("raw é 😀 é"))
    }

    @Test func stringsAreReescapedMinimally() throws {
        let value = JSONValue.string("q\"b\\s/\u{08}\u{0C}\n\r\t\u{01}\u{1F}\u{7F}é😀\u{2028}")
        #expect(value.serialized == "\"q\\\"b\\\\s/\\b\\f\\n\\r\\t\\u0001\\u001f\u{7F}é😀\u{2028}\"")
        #expect(try JSONValue.parse(value.serialized) == value)
        // Escaped input comes back out in minimal form.
        #expect(try JSONValue.parse(#"["\u00e9\/\u001F\ud83d\ude00"]"#).serialized == "[\"é/\\u001f😀\"]")
    }

    @Test func canonicalSerializationSortsKeysBytewiseRecursively() throws {
        let value = try JSONValue.parse(#"{"b":1,"a":{"d":2,"c":3},"B":0,"é":1,"z":[{"y":1.50,"x":2}]}"#)
        #expect(value.canonicalSerialized == #"{"B":0,"a":{"c":3,"d":2},"b":1,"z":[{"x":2,"y":1.50}],"é":1}"#)
        #expect(value.canonicalSerializedBytes == Array(value.canonicalSerialized.utf8))
        // Serialization without sorting is untouched.
        #expect(value.serialized == #"{"b":1,"a":{"d":2,"c":3},"B":0,"é":1,"z":[{"y":1.50,"x":2}]}"#)
    }

    @Test func canonicalSerializationIsStableForDuplicatesAndUsesBytesNotUnicodeOrder() throws {
        #expect(try JSONValue.parse(#"{"b":0,"a":2,"a":1}"#).canonicalSerialized == #"{"a":2,"a":1,"b":0}"#)
        // "e\u0301" (65 CC 81) sorts before "é" (C3 A9) bytewise, although Swift
        // considers the two strings equal.
        let object: JSONValue = ["é": 1, "e\u{301}": 2, "f": 3]
        #expect(object.canonicalSerialized == "{\"e\u{301}\":2,\"f\":3,\"é\":1}")
    }

    @Test func equalityIsExact() throws {
        #expect(JSONValue.number("1.0") != .number("1"))
        #expect(JSONValue.string("é") != .string("e\u{301}"))
        #expect(try JSONValue.parse(#"{"a":1,"b":2}"#) != JSONValue.parse(#"{"b":2,"a":1}"#))
        #expect(try JSONValue.parse(#"{"a":[1,{"b":null}]}"#) == JSONValue.parse(#" { "a" : [ 1 , { "b" : null } ] } "#))
        let set: Set<JSONValue> = [.number("1"), .number("1.0"), .number("1"), ["a": 1], ["a": 1]]
        #expect(set.count == 3)
    }

    @Test func accessorsReturnValuesOnlyForTheirKind() throws {
        let value = try JSONValue.parse(#"{"s":"x","n":42,"f":1.0,"big":12345678901234567890,"b":true,"z":null,"a":[1],"o":{}}"#)
        #expect(value["s"]?.stringValue == "x")
        #expect(value["n"]?.intValue == 42)
        #expect(value["n"]?.numberText == "42")
        #expect(value["n"]?.doubleValue == 42)
        #expect(value["f"]?.intValue == nil)
        #expect(value["big"]?.intValue == nil)
        #expect(value["b"]?.boolValue == true)
        #expect(value["z"]?.isNull == true)
        #expect(value["a"]?.arrayValue == [1])
        #expect(value["o"]?.objectValue == JSONObject())
        #expect(value["missing"] == nil)
        #expect(value["s"]?.intValue == nil)
        #expect(value["n"]?.stringValue == nil)
        #expect(JSONValue.string("x")["s"] == nil)
        #expect(value.kind == .object)
        #expect(value["a"]?.kind == .array)
        #expect(JSONValue.number("1e2").intValue == nil)
        #expect(JSONValue.number("-0").intValue == 0)
        #expect(JSONValue.number("9223372036854775807").intValue == Int.max)
        #expect(JSONValue.number("-9223372036854775808").intValue == Int.min)
        #expect(JSONValue.number("9223372036854775808").intValue == nil)
        #expect(JSONValue.integer(-12) == .number("-12"))
    }

    @Test func literalsBuildValuesInWrittenOrder() {
        let value: JSONValue = ["z": 1, "a": [true, "s"], "z": false]
        #expect(value.serialized == #"{"z":1,"a":[true,"s"],"z":false}"#)
        #expect(value.description == value.serialized)
    }

    @Test func errorDescriptionNamesTheByteOffset() {
        let error = JSONError(offset: 17, message: "expected ',' or '}' after object member")
        #expect(error.description == "invalid JSON at byte 17: expected ',' or '}' after object member")
        #expect(throws: JSONError(offset: 7, message: "expected ',' or '}' after object member")) {
            try JSONValue.parse(#"{"a":1 "b":2}"#)
        }
    }

    @Test func maximumDepthIsAllowedAndSerializes() throws {
        let depth = JSONReader.maximumDepth
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let value = try JSONValue.parse(text)
        #expect(value.serialized == text)
        #expect(value == (try JSONValue.parse(text)))
        #expect(Set([value]).contains(value))
        let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
        #expect(try JSONValue.parse(objects).canonicalSerialized == objects)
    }
}
