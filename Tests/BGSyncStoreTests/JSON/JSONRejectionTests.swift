import Testing
import BGSyncStore

/// One malformed input, the byte offset the error must report, and a fragment of
/// the expected message.
struct JSONRejectionCase: Sendable, CustomTestStringConvertible {
    var bytes: [UInt8]
    var offset: Int
    var message: String

    init(_ text: String, at offset: Int, _ message: String) {
        self.bytes = Array(text.utf8)
        self.offset = offset
        self.message = message
    }

    init(bytes: [UInt8], at offset: Int, _ message: String) {
        self.bytes = bytes
        self.offset = offset
        self.message = message
    }

    var testDescription: String {
        String(decoding: bytes, as: UTF8.self).debugDescription + " @\(offset)"
    }
}

@Suite struct JSONRejectionTests {
    static let structural: [JSONRejectionCase] = [
        .init("", at: 0, "unexpected end of input"),
        .init("   ", at: 3, "unexpected end of input"),
        .init("[", at: 1, "unexpected end of input"),
        .init(#"{"a":"#, at: 5, "unexpected end of input"),
        .init(#"{"a""#, at: 4, "unexpected end of input"),
        .init("[1,", at: 3, "unexpected end of input"),
        .init(#"{"a":1,}"#, at: 7, "trailing comma in object"),
        .init("[1,2,]", at: 5, "trailing comma in array"),
        .init("[1,,2]", at: 3, "unexpected character ','"),
        .init("[,1]", at: 1, "unexpected character ','"),
        .init(#"{,}"#, at: 1, "expected string key or '}'"),
        .init(#"{"a" 1}"#, at: 5, "expected ':' after object key"),
        .init(#"{"a":1 "b":2}"#, at: 7, "expected ',' or '}' after object member"),
        .init("[1 2]", at: 3, "expected ',' or ']' after array element"),
        .init("[1}", at: 2, "expected ',' or ']' after array element"),
        .init(#"{"a":1]"#, at: 6, "expected ',' or '}' after object member"),
        .init("{a:1}", at: 1, "expected string key or '}'"),
        .init(#"{"a":1,b:2}"#, at: 7, "expected string key after ','"),
        .init(#"{'a':1}"#, at: 1, "expected string key or '}'"),
        .init("'a'", at: 0, "unexpected character '''"),
        .init("[1]x", at: 3, "unexpected trailing characters"),
        .init(#"{"a":1}}"#, at: 7, "unexpected trailing characters"),
        .init("1 2", at: 2, "unexpected trailing characters"),
        .init("/* c */ 1", at: 0, "unexpected character '/'"),
        .init("[1] // c", at: 4, "unexpected trailing characters"),
        .init("\u{0B}1", at: 0, "unexpected byte 0x0B"),
        .init("\u{A0}1", at: 0, "unexpected byte 0xC2"),
        .init("\u{FEFF}{}", at: 0, "unexpected byte 0xEF"),  // no BOM
    ]

    static let literalsAndNumbers: [JSONRejectionCase] = [
        .init("tru", at: 3, "unexpected end of input"),
        .init("trux", at: 0, "invalid literal; expected 'true'"),
        .init("[nul]", at: 1, "invalid literal; expected 'null'"),
        .init("False", at: 0, "unexpected character 'F'"),
        .init("NaN", at: 0, "unexpected character 'N'"),
        .init("Infinity", at: 0, "unexpected character 'I'"),
        .init("-Infinity", at: 1, "expected digit after '-'"),
        .init("[nan]", at: 1, "invalid literal; expected 'null'"),
        .init("01", at: 0, "leading zeros are not allowed"),
        .init("-01", at: 1, "leading zeros are not allowed"),
        .init("[00]", at: 1, "leading zeros are not allowed"),
        .init("+1", at: 0, "unexpected character '+'"),
        .init(".5", at: 0, "unexpected character '.'"),
        .init("1.", at: 2, "unexpected end of input"),
        .init("[1.]", at: 3, "expected digit after decimal point"),
        .init("1.e5", at: 2, "expected digit after decimal point"),
        .init("1e", at: 2, "unexpected end of input"),
        .init("[1e]", at: 3, "expected digit in exponent"),
        .init("[1e+]", at: 4, "expected digit in exponent"),
        .init("-", at: 1, "unexpected end of input"),
        .init("[-]", at: 2, "expected digit after '-'"),
        .init("0x10", at: 1, "unexpected trailing characters"),
        .init("1_000", at: 1, "unexpected trailing characters"),
    ]

    static let strings: [JSONRejectionCase] = [
        .init(#""abc"#, at: 4, "unexpected end of input"),
        .init(#""abc\"#, at: 5, "unexpected end of input"),
        .init("\"a\nb\"", at: 2, "unescaped control character 0x0A"),
        .init("\"a\tb\"", at: 2, "unescaped control character 0x09"),
        .init("\"\u{0}\"", at: 1, "unescaped control character 0x00"),
        .init("[\"ok\", \"x\\n\u{1F}\"]", at: 11, "unescaped control character 0x1F"),
        .init(#""\x""#, at: 1, "invalid escape sequence character 'x'"),
        .init(#""\'""#, at: 1, "invalid escape sequence character '''"),
        .init(#""ab\U0041""#, at: 3, "invalid escape sequence character 'U'"),
        .init(#""\u12""#, at: 1, #"invalid \u escape: expected 4 hex digits"#),
        .init(#""\u12G4""#, at: 1, #"invalid \u escape: expected 4 hex digits"#),
        .init(#""\ud83d""#, at: 1, "unpaired high surrogate"),
        .init(#""\ud83dx""#, at: 1, "unpaired high surrogate"),
        .init(#""\ud83d\u0041""#, at: 1, "unpaired high surrogate"),
        .init(#""\ud83d\ud83d""#, at: 1, "unpaired high surrogate"),
        .init(#""\ud83d\n""#, at: 1, "unpaired high surrogate"),
        .init(#""\ud83d\uZZZZ""#, at: 7, #"invalid \u escape: expected 4 hex digits"#),
        .init(#""\ude00""#, at: 1, "unpaired low surrogate"),
        .init(#""x\uDFFF\ud83d""#, at: 2, "unpaired low surrogate"),
        .init(#"{"\ud800":1}"#, at: 2, "unpaired high surrogate"),
    ]

    static let invalidUTF8: [JSONRejectionCase] = [
        .init(bytes: [0x22, 0xC3, 0x28, 0x22], at: 1, "invalid UTF-8 sequence starting with byte 0xC3"),
        .init(bytes: [0x22, 0x80, 0x22], at: 1, "invalid UTF-8 sequence starting with byte 0x80"),  // lone continuation
        .init(bytes: [0x22, 0xC0, 0xAF, 0x22], at: 1, "invalid UTF-8"),  // overlong '/'
        .init(bytes: [0x22, 0xC1, 0xBF, 0x22], at: 1, "invalid UTF-8"),  // overlong
        .init(bytes: [0x22, 0xE0, 0x80, 0xAF, 0x22], at: 1, "invalid UTF-8"),  // overlong 3-byte
        .init(bytes: [0x22, 0xF0, 0x80, 0x80, 0xAF, 0x22], at: 1, "invalid UTF-8"),  // overlong 4-byte
        .init(bytes: [0x22, 0xED, 0xA0, 0x80, 0x22], at: 1, "invalid UTF-8"),  // encoded surrogate
        .init(bytes: [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], at: 1, "invalid UTF-8"),  // > U+10FFFF
        .init(bytes: [0x22, 0xF5, 0x80, 0x80, 0x80, 0x22], at: 1, "invalid UTF-8"),
        .init(bytes: [0x22, 0xFF, 0x22], at: 1, "invalid UTF-8"),
        .init(bytes: [0x22, 0x61, 0xE2, 0x82, 0x22], at: 2, "invalid UTF-8"),  // truncated before quote
        .init(bytes: [0x22, 0xE2, 0x82], at: 1, "invalid UTF-8"),  // truncated at end
        .init(bytes: [0x22, 0xF0, 0x9F, 0x98, 0x41, 0x22], at: 1, "invalid UTF-8"),
        .init(bytes: [0x22, 0x5C, 0x6E, 0xC3, 0x22], at: 3, "invalid UTF-8"),  // after an escape
        .init(bytes: Array(#"{"k":1,""#.utf8) + [0xFE] + Array(#"":2}"#.utf8), at: 8, "invalid UTF-8"),  // in a key
        .init(bytes: [0x5B, 0xC3, 0xA9, 0x5D], at: 1, "unexpected byte 0xC3"),  // non-ASCII outside a string
    ]

    @Test(arguments: structural + literalsAndNumbers + strings + invalidUTF8)
    func rejectsMalformedInputWithOffset(_ rejection: JSONRejectionCase) {
        do {
            let value = try JSONValue.parse(rejection.bytes)
            Issue.record("accepted malformed input as \(value.serialized)")
        } catch {
            #expect(error.offset == rejection.offset, "\(error)")
            #expect(error.message.contains(rejection.message), "\(error)")
        }
        // The raw-skipping path must reject the same input at the same place.
        var reader = JSONReader(rejection.bytes)
        do {
            try reader.skipValue()
            try reader.finish()
            Issue.record("skipValue accepted malformed input")
        } catch {
            #expect(error.offset == rejection.offset, "\(error)")
        }
    }

    @Test func acceptsEdgeCasesThatAreValid() throws {
        let valid = [
            "0", "-0", "0.0", "-0.0e-0", "1E+2", "1e02", "123.456e789", "\"\"", "\"\u{7F}\"", "[]", "{}",
            " \t\r\n[ ]\n", #"{"":""}"#, #""\u0000""#, #""\uFFFF""#, #""\uDBFF\uDFFF""#, "\"\u{10FFFF}\"",
            "\"\u{FEFF}\"", #""\/""#,
        ]
        for text in valid {
            let value = try JSONValue.parse(text)
            #expect(try JSONValue.parse(value.serialized) == value, "\(text)")
            var reader = JSONReader(text)
            try reader.skipValue()
            try reader.finish()
        }
    }

    @Test func hundredThousandDeepArraysThrowInsteadOfCrashing() {
        let depth = 100_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        #expect(throws: JSONError(offset: 512, message: "maximum nesting depth of 512 exceeded")) {
            try JSONValue.parse(text)
        }
        var reader = JSONReader(text)
        #expect(throws: JSONError.self) { try reader.skipValue() }
        #expect(throws: JSONError.self) { try RawJSONObject.members(ofObject: Array(("{\"a\":" + text + "}").utf8)) }
    }

    @Test func hundredThousandDeepObjectsThrowInsteadOfCrashing() {
        let text = String(repeating: #"{"a":"#, count: 100_000)
        #expect(throws: JSONError.self) { try JSONValue.parse(text) }
        var reader = JSONReader(text)
        #expect(throws: JSONError.self) { try reader.skipValue() }
    }

    @Test func depthLimitIsExactlyFiveHundredTwelve() throws {
        let ok = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        _ = try JSONValue.parse(ok)
        let tooDeep = "[" + ok + "]"
        #expect(throws: JSONError(offset: 512, message: "maximum nesting depth of 512 exceeded")) {
            try JSONValue.parse(tooDeep)
        }
        // The limit also counts containers opened through the pull API.
        var reader = JSONReader(tooDeep)
        try reader.beginArray()
        #expect(try reader.nextElement())
        #expect(throws: JSONError(offset: 512, message: "maximum nesting depth of 512 exceeded")) {
            try reader.skipValue()
        }
    }
}
