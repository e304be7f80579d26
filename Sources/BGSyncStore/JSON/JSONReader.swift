/// A fast, strict pull parser over UTF-8 JSON text (RFC 8259).
///
/// The reader validates everything it consumes: no trailing commas, no leading
/// zeros, no `NaN`/`Infinity`, no unescaped control characters in strings,
/// well-formed `\u` escapes (surrogate pairs combined, lone surrogates rejected),
/// and well-formed UTF-8. Nesting deeper than ``maximumDepth`` is rejected, and no
/// operation recurses, so hostile input produces a thrown ``JSONError``, never a
/// crash. All offsets are byte offsets into ``bytes``.
///
/// Containers are iterated with ``beginObject()``/``nextKey()`` and
/// ``beginArray()``/``nextElement()``; after each key (or each `true` from
/// ``nextElement()``) exactly one value must be read with one of the `read…`
/// methods, ``skipValue()``, or by beginning a nested container:
///
/// ```swift
/// var r = JSONReader(bytes)
/// try r.beginObject()
/// while let key = try r.nextKey() {
///     if key == "docs" {
///         try r.beginArray()
///         while try r.nextElement() {
///             let raw = try r.skipValue()   // r.bytes[raw] is the element's text
///         }
///     } else {
///         try r.skipValue()
///     }
/// }
/// try r.finish()
/// ```
package struct JSONReader: Sendable {
    /// The maximum nesting depth of arrays and objects (the outermost container is depth 1).
    package static let maximumDepth = 512

    /// The UTF-8 input. Ranges returned by ``skipValue()`` and
    /// ``nextKeyRange()`` index into it.
    package let bytes: [UInt8]

    /// The byte offset of the next unread byte.
    package private(set) var offset: Int

    /// The end (exclusive) of the readable part of ``bytes``.
    package let endOffset: Int

    private enum State: UInt8, Sendable {
        case first  // container just opened
        case expectValue  // a value must be read next
        case afterValue  // a value was just read
    }

    private struct Frame: Sendable {
        var isObject: Bool
        var state: State
    }

    private var containers: [Frame] = []
    private var topState: State = .expectValue

    /// Creates a reader over UTF-8 bytes.
    package init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
        self.endOffset = bytes.count
    }

    /// Creates a reader over the UTF-8 encoding of `text`.
    package init(_ text: String) {
        self.init(Array(text.utf8))
    }

    /// Creates a reader over the sub-range `range` of `bytes`; the text outside the
    /// range is ignored, and offsets stay relative to the start of `bytes`. A range
    /// reaching outside `bytes` is clamped to it.
    package init(_ bytes: [UInt8], in range: Range<Int>) {
        let lower = max(0, min(range.lowerBound, bytes.count))
        let upper = max(lower, min(range.upperBound, bytes.count))
        self.bytes = bytes
        self.offset = lower
        self.endOffset = upper
    }

    /// The number of arrays and objects currently open.
    package var depth: Int { containers.count }

    // MARK: - Containers

    /// Consumes the `{` that opens an object. Throws if the next value is not an object.
    package mutating func beginObject() throws(JSONError) {
        try beginValue()
        guard offset < endOffset, bytes[offset] == UInt8(ascii: "{") else {
            throw mismatch("object", at: offset)
        }
        try open(isObject: true, at: offset)
        offset += 1
    }

    /// Consumes the `[` that opens an array. Throws if the next value is not an array.
    package mutating func beginArray() throws(JSONError) {
        try beginValue()
        guard offset < endOffset, bytes[offset] == UInt8(ascii: "[") else {
            throw mismatch("array", at: offset)
        }
        try open(isObject: false, at: offset)
        offset += 1
    }

    /// Advances to the next member of the innermost open object and returns its key
    /// (consuming the separating `,` and the `:`), or consumes the closing `}` and
    /// returns `nil`. After a key is returned, its value must be read next.
    package mutating func nextKey() throws(JSONError) -> String? {
        try checkInObject()
        guard let token = try advanceKey(decode: true) else { return nil }
        return token.key ?? ""
    }

    /// Like ``nextKey()``, but also returns the byte range of the key token in
    /// ``bytes``, including its quotes.
    package mutating func nextKeyRange() throws(JSONError) -> (key: String, range: Range<Int>)? {
        try checkInObject()
        guard let token = try advanceKey(decode: true) else { return nil }
        return (token.key ?? "", token.range)
    }

    /// Advances to the next element of the innermost open array and returns `true`
    /// (consuming the separating `,`), or consumes the closing `]` and returns
    /// `false`. After `true`, the element must be read next.
    package mutating func nextElement() throws(JSONError) -> Bool {
        guard let frame = containers.last, !frame.isObject else {
            throw JSONError(offset: offset, message: "reader misuse: nextElement() called outside an array")
        }
        return try advanceElement()
    }

    // MARK: - Scalars

    /// Reads a string value, decoding its escapes.
    package mutating func readString() throws(JSONError) -> String {
        try beginValue()
        guard offset < endOffset, bytes[offset] == UInt8(ascii: "\"") else {
            throw mismatch("string", at: offset)
        }
        let (next, value) = try scanString(at: offset, decode: true)
        offset = next
        endValue()
        return value ?? ""
    }

    /// Reads `true` or `false`.
    package mutating func readBool() throws(JSONError) -> Bool {
        try beginValue()
        let result: Bool
        if offset < endOffset, bytes[offset] == UInt8(ascii: "t") {
            offset = try matchLiteral(Self.trueBytes, at: offset)
            result = true
        } else if offset < endOffset, bytes[offset] == UInt8(ascii: "f") {
            offset = try matchLiteral(Self.falseBytes, at: offset)
            result = false
        } else {
            throw mismatch("boolean", at: offset)
        }
        endValue()
        return result
    }

    /// If the next value is `null`, consumes it and returns `true`; otherwise
    /// consumes nothing (but whitespace) and returns `false`.
    package mutating func readNull() throws(JSONError) -> Bool {
        try beginValue()
        guard offset < endOffset, bytes[offset] == UInt8(ascii: "n") else { return false }
        offset = try matchLiteral(Self.nullBytes, at: offset)
        endValue()
        return true
    }

    /// Reads a number and returns its raw text exactly as written.
    package mutating func readNumberText() throws(JSONError) -> String {
        try beginValue()
        guard offset < endOffset, Self.startsNumber(bytes[offset]) else {
            throw mismatch("number", at: offset)
        }
        let start = offset
        offset = try scanNumber(at: start)
        endValue()
        return String(decoding: bytes[start..<offset], as: UTF8.self)
    }

    /// Reads a number whose raw text is an integer (no fraction or exponent) that
    /// fits in `Int`. Throws, consuming nothing, if it is not.
    package mutating func readInt() throws(JSONError) -> Int {
        try beginValue()
        guard offset < endOffset, Self.startsNumber(bytes[offset]) else {
            throw mismatch("number", at: offset)
        }
        let start = offset
        let next = try scanNumber(at: start)
        let text = String(decoding: bytes[start..<next], as: UTF8.self)
        guard let value = Int(text) else {
            throw JSONError(offset: start, message: "number \(text) is not an integer that fits in Int")
        }
        offset = next
        endValue()
        return value
    }

    /// Returns the kind of the next value without consuming anything.
    package func peekKind() throws(JSONError) -> JSONKind {
        let i = skipWhitespace(from: offset)
        guard i < endOffset else { throw Self.endOfInput(i) }
        switch bytes[i] {
        case UInt8(ascii: "{"): return .object
        case UInt8(ascii: "["): return .array
        case UInt8(ascii: "\""): return .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): return .bool
        case UInt8(ascii: "n"): return .null
        case let c where Self.startsNumber(c): return .number
        case let c: throw Self.unexpected(c, at: i)
        }
    }

    // MARK: - Whole values

    /// Reads one complete value of any kind (validating it fully).
    package mutating func readValue() throws(JSONError) -> JSONValue {
        struct Partial {
            var isObject: Bool
            var elements: [JSONValue] = []
            var members: [JSONObject.Member] = []
            var key = ""
        }
        let base = containers.count
        var partials: [Partial] = []
        try beginValue()
        var pending: JSONValue?
        while true {
            if let value = pending {
                pending = nil
                guard !partials.isEmpty else { return value }
                let last = partials.count - 1
                if partials[last].isObject {
                    partials[last].members.append((key: partials[last].key, value: value))
                } else {
                    partials[last].elements.append(value)
                }
            } else {
                guard offset < endOffset else { throw Self.endOfInput(offset) }
                let c = bytes[offset]
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    try open(isObject: c == UInt8(ascii: "{"), at: offset)
                    offset += 1
                    partials.append(Partial(isObject: c == UInt8(ascii: "{")))
                default:
                    pending = try readScalar(decode: true)
                    continue
                }
            }
            // Advance within the innermost open container.
            guard containers.count > base, let frame = containers.last else { continue }
            if frame.isObject {
                if let token = try advanceKey(decode: true) {
                    partials[partials.count - 1].key = token.key ?? ""
                    offset = skipWhitespace(from: offset)
                } else if let done = partials.popLast() {
                    pending = .object(JSONObject(done.members))
                }
            } else {
                if try advanceElement() {
                    // offset is already at the element.
                } else if let done = partials.popLast() {
                    pending = .array(done.elements)
                }
            }
        }
    }

    /// Validates and skips one value of any kind, returning the byte range of its
    /// raw text in ``bytes`` (without surrounding whitespace).
    @discardableResult
    package mutating func skipValue() throws(JSONError) -> Range<Int> {
        let base = containers.count
        try beginValue()
        let start = offset
        var atValue = true
        while true {
            if atValue {
                guard offset < endOffset else { throw Self.endOfInput(offset) }
                let c = bytes[offset]
                switch c {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    try open(isObject: c == UInt8(ascii: "{"), at: offset)
                    offset += 1
                default:
                    _ = try readScalar(decode: false)
                }
            }
            guard containers.count > base, let frame = containers.last else {
                return start..<offset
            }
            if frame.isObject {
                if try advanceKey(decode: false) != nil {
                    offset = skipWhitespace(from: offset)
                    atValue = true
                } else {
                    atValue = false
                }
            } else {
                atValue = try advanceElement()
            }
        }
    }

    /// Skips one value by its structure alone — brackets, and strings with their escapes —
    /// without validating what is inside (UTF-8, control characters, escapes, numbers, nesting
    /// depth), and returns the byte range of its raw text.
    ///
    /// A caller that must take one bad element out of an otherwise good container (one bad
    /// document among a server's many) skips it so, then validates the range on its own with a
    /// new reader. Throws only when the value never ends, or does not start like a value.
    @discardableResult
    package mutating func skipValueStructurally() throws(JSONError) -> Range<Int> {
        try beginValue()
        let start = offset
        guard start < endOffset else { throw Self.endOfInput(start) }
        var i = start
        var depth = 0
        repeat {
            guard i < endOffset else { throw Self.endOfInput(i) }
            switch bytes[i] {
            case UInt8(ascii: "\""):
                i += 1
                while i < endOffset && bytes[i] != UInt8(ascii: "\"") {
                    i += bytes[i] == UInt8(ascii: "\\") ? 2 : 1
                }
                guard i < endOffset else { throw Self.endOfInput(endOffset) }
                i += 1
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                i += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                guard depth > 0 else { throw Self.unexpected(bytes[i], at: i) }
                depth -= 1
                i += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"), 0x20, 0x09, 0x0A, 0x0D:
                guard depth > 0 else { throw Self.unexpected(bytes[i], at: i) }
                i += 1
            default:
                i += 1
            }
            if depth == 0 {
                // A scalar at the top of the skip ends at the next delimiter.
                while i < endOffset, i > start, bytes[start] != UInt8(ascii: "\""), bytes[start] != UInt8(ascii: "{"),
                      bytes[start] != UInt8(ascii: "["), !Self.isDelimiter(bytes[i]) {
                    i += 1
                }
            }
        } while depth > 0
        offset = i
        endValue()
        return start..<i
    }

    private static func isDelimiter(_ c: UInt8) -> Bool {
        c == UInt8(ascii: ",") || c == UInt8(ascii: "}") || c == UInt8(ascii: "]") || c == UInt8(ascii: ":")
            || c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D
    }

    /// Checks that only whitespace remains after the top-level value.
    package mutating func finish() throws(JSONError) {
        guard containers.isEmpty else {
            throw JSONError(offset: offset, message: "reader misuse: finish() called inside an unclosed container")
        }
        let i = skipWhitespace(from: offset)
        guard topState == .afterValue else {
            if i >= endOffset { throw Self.endOfInput(i) }
            throw JSONError(offset: i, message: "reader misuse: finish() called before the value was read")
        }
        guard i == endOffset else {
            throw JSONError(offset: i, message: "unexpected trailing characters after JSON value")
        }
        offset = i
    }

    /// Reads one value and checks that only whitespace follows it.
    mutating func readDocument() throws(JSONError) -> JSONValue {
        let value = try readValue()
        try finish()
        return value
    }

    // MARK: - State machine

    /// Checks that a value may be read now and skips whitespace before it.
    private mutating func beginValue() throws(JSONError) {
        if let frame = containers.last {
            guard frame.state == .expectValue else {
                let message = frame.isObject
                    ? "reader misuse: call nextKey() before reading a member value"
                    : "reader misuse: call nextElement() before reading an element"
                throw JSONError(offset: offset, message: message)
            }
        } else {
            guard topState == .expectValue else {
                throw JSONError(offset: offset, message: "reader misuse: the top-level value has already been read")
            }
        }
        offset = skipWhitespace(from: offset)
    }

    /// Records that the value expected in the current context has been consumed.
    private mutating func endValue() {
        if containers.isEmpty {
            topState = .afterValue
        } else {
            containers[containers.count - 1].state = .afterValue
        }
    }

    private mutating func open(isObject: Bool, at position: Int) throws(JSONError) {
        guard containers.count < Self.maximumDepth else {
            throw JSONError(offset: position, message: "maximum nesting depth of \(Self.maximumDepth) exceeded")
        }
        containers.append(Frame(isObject: isObject, state: .first))
    }

    private mutating func close() {
        containers.removeLast()
        endValue()
    }

    private func checkInObject() throws(JSONError) {
        guard let frame = containers.last, frame.isObject else {
            throw JSONError(offset: offset, message: "reader misuse: nextKey() called outside an object")
        }
    }

    /// In the innermost (object) container: consumes `,` if needed, then either the
    /// closing `}` (returning nil) or a key and its `:`.
    private mutating func advanceKey(decode: Bool) throws(JSONError) -> (key: String?, range: Range<Int>)? {
        let frameIndex = containers.count - 1
        var i = skipWhitespace(from: offset)
        switch containers[frameIndex].state {
        case .first:
            guard i < endOffset else { throw Self.endOfInput(i) }
            if bytes[i] == UInt8(ascii: "}") {
                offset = i + 1
                close()
                return nil
            }
            guard bytes[i] == UInt8(ascii: "\"") else {
                throw JSONError(offset: i, message: "expected string key or '}'")
            }
        case .afterValue:
            guard i < endOffset else { throw Self.endOfInput(i) }
            if bytes[i] == UInt8(ascii: "}") {
                offset = i + 1
                close()
                return nil
            }
            guard bytes[i] == UInt8(ascii: ",") else {
                throw JSONError(offset: i, message: "expected ',' or '}' after object member")
            }
            i = skipWhitespace(from: i + 1)
            guard i < endOffset else { throw Self.endOfInput(i) }
            if bytes[i] == UInt8(ascii: "}") {
                throw JSONError(offset: i, message: "trailing comma in object")
            }
            guard bytes[i] == UInt8(ascii: "\"") else {
                throw JSONError(offset: i, message: "expected string key after ','")
            }
        case .expectValue:
            throw JSONError(offset: i, message: "reader misuse: the previous member's value was not read")
        }
        let keyStart = i
        let (keyEnd, key) = try scanString(at: keyStart, decode: decode)
        let colon = skipWhitespace(from: keyEnd)
        guard colon < endOffset else { throw Self.endOfInput(colon) }
        guard bytes[colon] == UInt8(ascii: ":") else {
            throw JSONError(offset: colon, message: "expected ':' after object key")
        }
        offset = colon + 1
        containers[frameIndex].state = .expectValue
        return (key, keyStart..<keyEnd)
    }

    /// In the innermost (array) container: consumes `,` if needed and returns true
    /// with ``offset`` at the next element, or consumes `]` and returns false.
    private mutating func advanceElement() throws(JSONError) -> Bool {
        let frameIndex = containers.count - 1
        var i = skipWhitespace(from: offset)
        switch containers[frameIndex].state {
        case .first:
            guard i < endOffset else { throw Self.endOfInput(i) }
            if bytes[i] == UInt8(ascii: "]") {
                offset = i + 1
                close()
                return false
            }
        case .afterValue:
            guard i < endOffset else { throw Self.endOfInput(i) }
            if bytes[i] == UInt8(ascii: "]") {
                offset = i + 1
                close()
                return false
            }
            guard bytes[i] == UInt8(ascii: ",") else {
                throw JSONError(offset: i, message: "expected ',' or ']' after array element")
            }
            i = skipWhitespace(from: i + 1)
            guard i < endOffset else { throw Self.endOfInput(i) }
            if bytes[i] == UInt8(ascii: "]") {
                throw JSONError(offset: i, message: "trailing comma in array")
            }
        case .expectValue:
            throw JSONError(offset: i, message: "reader misuse: the previous element was not read")
        }
        offset = i
        containers[frameIndex].state = .expectValue
        return true
    }

    /// Reads a string, number or literal at ``offset`` (already past whitespace),
    /// marking the value consumed. Strings are decoded only if `decode` is set.
    private mutating func readScalar(decode: Bool) throws(JSONError) -> JSONValue {
        let c = bytes[offset]
        let value: JSONValue
        switch c {
        case UInt8(ascii: "\""):
            let (next, string) = try scanString(at: offset, decode: decode)
            offset = next
            value = .string(string ?? "")
        case UInt8(ascii: "t"):
            offset = try matchLiteral(Self.trueBytes, at: offset)
            value = .bool(true)
        case UInt8(ascii: "f"):
            offset = try matchLiteral(Self.falseBytes, at: offset)
            value = .bool(false)
        case UInt8(ascii: "n"):
            offset = try matchLiteral(Self.nullBytes, at: offset)
            value = .null
        case let c where Self.startsNumber(c):
            let start = offset
            offset = try scanNumber(at: start)
            value = decode ? .number(String(decoding: bytes[start..<offset], as: UTF8.self)) : .null
        default:
            throw Self.unexpected(c, at: offset)
        }
        endValue()
        return value
    }

    // MARK: - Lexing

    private static let trueBytes: [UInt8] = Array("true".utf8)
    private static let falseBytes: [UInt8] = Array("false".utf8)
    private static let nullBytes: [UInt8] = Array("null".utf8)

    private func skipWhitespace(from start: Int) -> Int {
        var i = start
        while i < endOffset {
            switch bytes[i] {
            case 0x20, 0x0A, 0x0D, 0x09: i += 1
            default: return i
            }
        }
        return i
    }

    private static func startsNumber(_ c: UInt8) -> Bool {
        c == UInt8(ascii: "-") || (c >= 0x30 && c <= 0x39)
    }

    private static func isDigit(_ c: UInt8) -> Bool {
        c >= 0x30 && c <= 0x39
    }

    private func matchLiteral(_ literal: [UInt8], at start: Int) throws(JSONError) -> Int {
        var i = start
        for expected in literal {
            guard i < endOffset else { throw Self.endOfInput(i) }
            guard bytes[i] == expected else {
                throw JSONError(
                    offset: start,
                    message: "invalid literal; expected '\(String(decoding: literal, as: UTF8.self))'")
            }
            i += 1
        }
        return i
    }

    /// Validates a number starting at `start` (which holds `-` or a digit) and
    /// returns the offset just past it.
    private func scanNumber(at start: Int) throws(JSONError) -> Int {
        var i = start
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < endOffset else { throw Self.endOfInput(i) }
        guard Self.isDigit(bytes[i]) else {
            throw JSONError(offset: i, message: "expected digit after '-'")
        }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < endOffset, Self.isDigit(bytes[i]) {
                throw JSONError(offset: i - 1, message: "leading zeros are not allowed in numbers")
            }
        } else {
            while i < endOffset, Self.isDigit(bytes[i]) { i += 1 }
        }
        if i < endOffset, bytes[i] == UInt8(ascii: ".") {
            i += 1
            guard i < endOffset else { throw Self.endOfInput(i) }
            guard Self.isDigit(bytes[i]) else {
                throw JSONError(offset: i, message: "expected digit after decimal point")
            }
            while i < endOffset, Self.isDigit(bytes[i]) { i += 1 }
        }
        if i < endOffset, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < endOffset, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < endOffset else { throw Self.endOfInput(i) }
            guard Self.isDigit(bytes[i]) else {
                throw JSONError(offset: i, message: "expected digit in exponent")
            }
            while i < endOffset, Self.isDigit(bytes[i]) { i += 1 }
        }
        return i
    }

    /// Validates the string token whose opening quote is at `start`; returns the
    /// offset past its closing quote and, if `decode` is set, its decoded value.
    private func scanString(at start: Int, decode: Bool) throws(JSONError) -> (Int, String?) {
        let end = endOffset
        return try bytes.withUnsafeBufferPointer { (p) throws(JSONError) -> (Int, String?) in
            try Self.scanString(p, from: start, end: end, decode: decode)
        }
    }

    private static func scanString(
        _ p: UnsafeBufferPointer<UInt8>, from start: Int, end: Int, decode: Bool
    ) throws(JSONError) -> (Int, String?) {
        var i = start + 1
        // Fast path: no escapes.
        while i < end {
            let c = p[i]
            if c == 0x22 {
                let value = decode ? String(decoding: UnsafeBufferPointer(rebasing: p[(start + 1)..<i]), as: UTF8.self) : nil
                return (i + 1, value)
            }
            if c == 0x5C { break }
            if c < 0x20 { throw controlCharacter(c, at: i) }
            if c < 0x80 {
                i += 1
            } else {
                i = try validateUTF8(p, at: i, end: end)
            }
        }
        guard i < end else { throw endOfInput(end) }

        // Slow path: at least one escape, at p[i].
        var buffer: [UInt8] = []
        if decode {
            buffer.reserveCapacity(i - start + 16)
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: p[(start + 1)..<i]))
        }
        var runStart = i
        while i < end {
            let c = p[i]
            if c == 0x22 {
                if decode {
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<i]))
                    return (i + 1, String(decoding: buffer, as: UTF8.self))
                }
                return (i + 1, nil)
            } else if c == 0x5C {
                if decode {
                    buffer.append(contentsOf: UnsafeBufferPointer(rebasing: p[runStart..<i]))
                }
                guard i + 1 < end else { throw endOfInput(end) }
                let escaped = p[i + 1]
                var decoded: UInt8 = 0
                switch escaped {
                case 0x22, 0x5C, 0x2F: decoded = escaped
                case UInt8(ascii: "b"): decoded = 0x08
                case UInt8(ascii: "f"): decoded = 0x0C
                case UInt8(ascii: "n"): decoded = 0x0A
                case UInt8(ascii: "r"): decoded = 0x0D
                case UInt8(ascii: "t"): decoded = 0x09
                case UInt8(ascii: "u"):
                    guard let unit = hex4(p, at: i + 2, end: end) else {
                        throw JSONError(offset: i, message: "invalid \\u escape: expected 4 hex digits")
                    }
                    var scalar = unit
                    var next = i + 6
                    if unit >= 0xD800 && unit <= 0xDBFF {
                        guard next + 1 < end, p[next] == 0x5C, p[next + 1] == UInt8(ascii: "u") else {
                            throw JSONError(offset: i, message: "unpaired high surrogate in \\u escape")
                        }
                        guard let low = hex4(p, at: next + 2, end: end) else {
                            throw JSONError(offset: next, message: "invalid \\u escape: expected 4 hex digits")
                        }
                        guard low >= 0xDC00 && low <= 0xDFFF else {
                            throw JSONError(offset: i, message: "unpaired high surrogate in \\u escape")
                        }
                        scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                        next += 6
                    } else if unit >= 0xDC00 && unit <= 0xDFFF {
                        throw JSONError(offset: i, message: "unpaired low surrogate in \\u escape")
                    }
                    if decode { appendUTF8(scalar, to: &buffer) }
                    i = next
                    runStart = i
                    continue
                default:
                    throw JSONError(offset: i, message: "invalid escape sequence \(describe(escaped)) after '\\'")
                }
                if decode { buffer.append(decoded) }
                i += 2
                runStart = i
            } else if c < 0x20 {
                throw controlCharacter(c, at: i)
            } else if c < 0x80 {
                i += 1
            } else {
                i = try validateUTF8(p, at: i, end: end)
            }
        }
        throw endOfInput(end)
    }

    /// Parses 4 hex digits at `i`, or returns nil.
    private static func hex4(_ p: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) -> UInt32? {
        guard i + 4 <= end else { return nil }
        var value: UInt32 = 0
        for k in i..<(i + 4) {
            let c = p[k]
            let digit: UInt8
            switch c {
            case 0x30...0x39: digit = c - 0x30
            case 0x41...0x46: digit = c - 0x41 + 10
            case 0x61...0x66: digit = c - 0x61 + 10
            default: return nil
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private static func appendUTF8(_ scalar: UInt32, to buffer: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            buffer.append(UInt8(scalar))
        case 0x80..<0x800:
            buffer.append(UInt8(0xC0 | (scalar >> 6)))
            buffer.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            buffer.append(UInt8(0xE0 | (scalar >> 12)))
            buffer.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            buffer.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            buffer.append(UInt8(0xF0 | ((scalar >> 18) & 0x07)))
            buffer.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            buffer.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            buffer.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    /// Validates one multi-byte UTF-8 sequence starting at `i` (whose first byte is
    /// >= 0x80) and returns the offset past it. Rejects overlong forms, encoded
    /// surrogates, code points above U+10FFFF and truncated sequences.
    private static func validateUTF8(_ p: UnsafeBufferPointer<UInt8>, at i: Int, end: Int) throws(JSONError) -> Int {
        let lead = p[i]
        let continuation: Int
        var low: UInt8 = 0x80
        var high: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: continuation = 1
        case 0xE0: continuation = 2; low = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: continuation = 2
        case 0xED: continuation = 2; high = 0x9F
        case 0xF0: continuation = 3; low = 0x90
        case 0xF1...0xF3: continuation = 3
        case 0xF4: continuation = 3; high = 0x8F
        default: throw invalidUTF8(lead, at: i)
        }
        guard i + continuation < end else { throw invalidUTF8(lead, at: i) }
        let second = p[i + 1]
        guard second >= low && second <= high else { throw invalidUTF8(lead, at: i) }
        if continuation >= 2 {
            for k in 2...continuation where p[i + k] & 0xC0 != 0x80 {
                throw invalidUTF8(lead, at: i)
            }
        }
        return i + continuation + 1
    }

    // MARK: - Errors

    private static func endOfInput(_ offset: Int) -> JSONError {
        JSONError(offset: offset, message: "unexpected end of input")
    }

    private static func unexpected(_ c: UInt8, at offset: Int) -> JSONError {
        JSONError(offset: offset, message: "unexpected \(describe(c))")
    }

    private static func controlCharacter(_ c: UInt8, at offset: Int) -> JSONError {
        JSONError(offset: offset, message: "unescaped control character \(hex(c)) in string")
    }

    private static func invalidUTF8(_ lead: UInt8, at offset: Int) -> JSONError {
        JSONError(offset: offset, message: "invalid UTF-8 sequence starting with byte \(hex(lead))")
    }

    private func mismatch(_ expected: String, at i: Int) -> JSONError {
        guard i < endOffset else { return Self.endOfInput(i) }
        let c = bytes[i]
        let found: String
        switch c {
        case UInt8(ascii: "{"): found = "object"
        case UInt8(ascii: "["): found = "array"
        case UInt8(ascii: "\""): found = "string"
        case UInt8(ascii: "t"), UInt8(ascii: "f"): found = "boolean"
        case UInt8(ascii: "n"): found = "null"
        case let c where Self.startsNumber(c): found = "number"
        default: found = Self.describe(c)
        }
        return JSONError(offset: i, message: "expected \(expected) but found \(found)")
    }

    private static func describe(_ c: UInt8) -> String {
        if c > 0x20 && c < 0x7F {
            return "character '\(Character(Unicode.Scalar(c)))'"
        }
        return "byte \(hex(c))"
    }

    private static func hex(_ c: UInt8) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        return "0x" + String(decoding: [digits[Int(c >> 4)], digits[Int(c & 0x0F)]], as: UTF8.self)
    }
}
