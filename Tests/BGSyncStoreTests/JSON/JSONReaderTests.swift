import Testing
import BGSyncStore

@Suite struct JSONReaderTests {
    private func text(_ reader: JSONReader, _ range: Range<Int>) -> String {
        String(decoding: reader.bytes[range], as: UTF8.self)
    }

    @Test func nestedIterationSkipsAndCollectsRawElements() throws {
        let input = #"{"total_rows":2,"docs":[{"_id":"a","n":1.50},{"_id":"b","x":[1,{"y":null}]}, "s" ,7],"ok":true}"#
        var r = JSONReader(input)
        var raws: [String] = []
        var otherKeys: [String] = []
        try r.beginObject()
        while let k = try r.nextKey() {
            if k == "docs" {
                try r.beginArray()
                while try r.nextElement() {
                    let raw = try r.skipValue()
                    raws.append(text(r, raw))
                }
            } else {
                otherKeys.append(k)
                _ = try r.skipValue()
            }
        }
        try r.finish()
        #expect(raws == [#"{"_id":"a","n":1.50}"#, #"{"_id":"b","x":[1,{"y":null}]}"#, #""s""#, "7"])
        #expect(otherKeys == ["total_rows", "ok"])
        #expect(r.depth == 0)
        #expect(r.offset == input.utf8.count)
    }

    @Test func typedReadsInsideNestedContainers() throws {
        var r = JSONReader(#" { "id" : "x\"y" , "n" : -42 , "f" : 1.0 , "b" : false , "z" : null , "a" : [ [ ] , { } , [ 1 ] ] } "#)
        try r.beginObject()
        #expect(try r.nextKey() == "id")
        #expect(try r.readString() == "x\"y")
        #expect(try r.nextKey() == "n")
        #expect(try r.readInt() == -42)
        #expect(try r.nextKey() == "f")
        #expect(try r.readNumberText() == "1.0")
        #expect(try r.nextKey() == "b")
        #expect(try r.readBool() == false)
        #expect(try r.nextKey() == "z")
        #expect(try r.readNull())
        #expect(try r.nextKey() == "a")
        try r.beginArray()
        #expect(try r.nextElement())
        try r.beginArray()
        #expect(try !r.nextElement())
        #expect(try r.nextElement())
        try r.beginObject()
        #expect(try r.nextKey() == nil)
        #expect(try r.nextElement())
        #expect(try r.readValue() == [1])
        #expect(try !r.nextElement())
        #expect(try r.nextKey() == nil)
        try r.finish()
    }

    @Test func skipValueReturnsRawRangesWithoutWhitespace() throws {
        let input = #"  {"a" : [1, {"b":null}] , "c":"x\"y\u00e9" , "d" :  -1.5e3 ,"e":true}  "#
        var r = JSONReader(input)
        try r.beginObject()
        var values: [String: String] = [:]
        while let key = try r.nextKey() {
            values[key] = text(r, try r.skipValue())
        }
        try r.finish()
        #expect(values == [
            "a": #"[1, {"b":null}]"#, "c": #""x\"y\u00e9""#, "d": "-1.5e3", "e": "true",
        ])

        var whole = JSONReader(input)
        let range = try whole.skipValue()
        #expect(range == 2..<(input.utf8.count - 2))
        try whole.finish()
    }

    @Test func nextKeyRangeCoversTheQuotedKeyToken() throws {
        var r = JSONReader(#"{ "plain":1, "es\"c\u0041ped" :2}"#)
        try r.beginObject()
        let first = try #require(try r.nextKeyRange())
        #expect(first.key == "plain")
        #expect(text(r, first.range) == #""plain""#)
        try r.skipValue()
        let second = try #require(try r.nextKeyRange())
        #expect(second.key == "es\"cAped")
        #expect(text(r, second.range) == #""es\"c\u0041ped""#)
        try r.skipValue()
        #expect(try r.nextKeyRange() == nil)
        try r.finish()
    }

    @Test func peekKindDoesNotConsume() throws {
        let cases: [(String, JSONKind)] = [
            ("null", .null), ("true", .bool), ("false", .bool), ("-1", .number), ("0", .number),
            (#""s""#, .string), ("[]", .array), ("{}", .object),
        ]
        for (input, kind) in cases {
            var r = JSONReader("  " + input)
            #expect(try r.peekKind() == kind)
            #expect(r.offset == 0)
            #expect(try r.readValue().kind == kind)
            try r.finish()
        }
        #expect(throws: JSONError(offset: 1, message: "unexpected end of input")) { try JSONReader(" ").peekKind() }
        #expect(throws: JSONError(offset: 0, message: "unexpected character 'x'")) { try JSONReader("x").peekKind() }
    }

    @Test func readNullConsumesOnlyNull() throws {
        var r = JSONReader(#"[null, "x"]"#)
        try r.beginArray()
        #expect(try r.nextElement())
        #expect(try r.readNull())
        #expect(try r.nextElement())
        #expect(try !r.readNull())
        #expect(try r.readString() == "x")
        #expect(try !r.nextElement())
        try r.finish()
    }

    @Test func typeMismatchThrowsWithoutConsuming() throws {
        var r = JSONReader(#"[1.0, 12345678901234567890, "s"]"#)
        try r.beginArray()
        #expect(try r.nextElement())
        #expect(throws: JSONError(offset: 1, message: "expected string but found number")) { try r.readString() }
        #expect(throws: JSONError(offset: 1, message: "number 1.0 is not an integer that fits in Int")) {
            try r.readInt()
        }
        #expect(try r.readNumberText() == "1.0")
        #expect(try r.nextElement())
        #expect(throws: JSONError.self) { try r.readInt() }
        #expect(try r.readNumberText() == "12345678901234567890")
        #expect(try r.nextElement())
        #expect(throws: JSONError(offset: 28, message: "expected boolean but found string")) { try r.readBool() }
        #expect(throws: JSONError(offset: 28, message: "expected object but found string")) { try r.beginObject() }
        #expect(throws: JSONError(offset: 28, message: "expected array but found string")) { try r.beginArray() }
        #expect(try r.readString() == "s")
        #expect(try !r.nextElement())
        try r.finish()
    }

    @Test func misuseOfTheStateMachineThrows() throws {
        var r = JSONReader(#"{"a":[1],"b":2}"#)
        #expect(throws: JSONError.self) { try r.nextKey() }  // not in an object yet
        try r.beginObject()
        #expect(throws: JSONError.self) { try r.readInt() }  // value before key
        #expect(throws: JSONError.self) { try r.nextElement() }  // not an array
        #expect(try r.nextKey() == "a")
        #expect(throws: JSONError.self) { try r.nextKey() }  // value not read
        try r.beginArray()
        #expect(throws: JSONError.self) { try r.nextKey() }  // in an array
        #expect(throws: JSONError.self) { try r.readInt() }  // element before nextElement
        #expect(throws: JSONError.self) { try r.finish() }  // containers open
        #expect(try r.nextElement())
        #expect(try r.readInt() == 1)
        #expect(try !r.nextElement())
        #expect(try r.nextKey() == "b")
        #expect(try r.readInt() == 2)
        #expect(try r.nextKey() == nil)
        #expect(throws: JSONError.self) { try r.readValue() }  // second top-level value
        try r.finish()

        var unread = JSONReader("1")
        #expect(throws: JSONError(offset: 0, message: "reader misuse: finish() called before the value was read")) {
            try unread.finish()
        }
    }

    @Test func finishRejectsTrailingText() throws {
        var r = JSONReader("{} \n x")
        try r.beginObject()
        #expect(try r.nextKey() == nil)
        #expect(throws: JSONError(offset: 5, message: "unexpected trailing characters after JSON value")) {
            try r.finish()
        }
    }

    @Test func readsASubRangeWithAbsoluteOffsets() throws {
        let bytes = Array(#"garbage[1,"two",{"3":3}]garbage"#.utf8)
        var r = JSONReader(bytes, in: 7..<24)
        #expect(r.offset == 7)
        #expect(try r.readValue() == [1, "two", ["3": 3]])
        try r.finish()
        #expect(r.offset == 24)

        var bad = JSONReader(bytes, in: 7..<12)
        #expect(throws: JSONError(offset: 12, message: "unexpected end of input")) { try bad.skipValue() }
    }

    @Test func readValueMatchesParseForNestedInput() throws {
        let input = #"{"a":[{"b":[[],{}]},"c",[1,2,[3,[4]]]],"d":{"e":{"f":{}}},"g":"\ud83d\ude00"}"#
        var r = JSONReader(input)
        let value = try r.readValue()
        try r.finish()
        #expect(value.serialized == #"{"a":[{"b":[[],{}]},"c",[1,2,[3,[4]]]],"d":{"e":{"f":{}}},"g":"😀"}"#)
        #expect(value == (try JSONValue.parse(input)))
    }
}
