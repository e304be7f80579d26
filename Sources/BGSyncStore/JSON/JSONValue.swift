/// A parsed JSON value that preserves the source exactly enough to re-emit it
/// without re-encoding: numbers keep their raw text, object members keep their
/// order and duplicates.
///
/// Equality is structural and exact: numbers compare by raw text (`1.0 != 1`),
/// strings and keys compare by UTF-8 bytes, and member order matters.
///
/// Parsed values are at most 512 levels deep (the JSON reader's limit). Serialization,
/// equality and hashing recurse, so values built by hand should stay within a few
/// thousand levels.
public indirect enum JSONValue: Sendable, Hashable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as its raw text exactly as written in the source (e.g. `1.0`,
    /// `12345678901234567890`, `1e-7`). When constructing one by hand, the text must
    /// be a valid JSON number; it is serialized verbatim.
    case number(String)
    /// A string, with escapes decoded.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object, with members in source order.
    case object(JSONObject)

    // MARK: Parsing

    /// Parses `text`, which must hold exactly one JSON value plus optional whitespace.
    public static func parse(_ text: String) throws(JSONError) -> JSONValue {
        var reader = JSONReader(text)
        return try reader.readDocument()
    }

    /// Parses UTF-8 `bytes`, which must hold exactly one JSON value plus optional whitespace.
    public static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
        var reader = JSONReader(bytes)
        return try reader.readDocument()
    }

    /// Parses a collection of UTF-8 bytes (e.g. an `ArraySlice<UInt8>`), which must hold
    /// exactly one JSON value plus optional whitespace. Error offsets are relative to
    /// the start of the collection.
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONError) -> JSONValue {
        var reader = JSONReader(Array(bytes))
        return try reader.readDocument()
    }

    // MARK: Convenience constructors

    /// A number value holding the decimal text of `value`.
    public static func integer(_ value: Int) -> JSONValue {
        .number(String(value))
    }

    // MARK: Accessors

    /// The kind of this value.
    public var kind: JSONKind {
        switch self {
        case .null: .null
        case .bool: .bool
        case .number: .number
        case .string: .string
        case .array: .array
        case .object: .object
        }
    }

    /// Whether this value is `null`.
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// The string, if this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The object, if this is an object.
    public var objectValue: JSONObject? {
        if case .object(let o) = self { return o }
        return nil
    }

    /// The elements, if this is an array.
    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// The boolean, if this is `true` or `false`.
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The raw number text, if this is a number.
    public var numberText: String? {
        if case .number(let n) = self { return n }
        return nil
    }

    /// The number as an `Int`, only if its raw text is an integer (no fraction or
    /// exponent) that fits in `Int`. `1.0` and `1e2` give `nil`.
    public var intValue: Int? {
        if case .number(let n) = self { return Int(n) }
        return nil
    }

    /// The number converted to `Double` (possibly losing precision), if this is a number.
    public var doubleValue: Double? {
        if case .number(let n) = self { return Double(n) }
        return nil
    }

    /// The value of the first member named `key`, if this is an object that has one.
    public subscript(key: String) -> JSONValue? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    // MARK: Serialization

    /// Compact JSON text: no whitespace, numbers raw, members in order, strings
    /// escaped minimally (see `JSONString`).
    public var serialized: String {
        String(decoding: serializedBytes, as: UTF8.self)
    }

    /// ``serialized`` as UTF-8 bytes.
    public var serializedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(to: &out, sortKeys: false)
        return out
    }

    /// Like ``serialized``, but with the members of every object (recursively) sorted
    /// bytewise by the UTF-8 of their keys; members with equal keys keep their order.
    /// Intended for hashing.
    package var canonicalSerialized: String {
        String(decoding: canonicalSerializedBytes, as: UTF8.self)
    }

    /// ``canonicalSerialized`` as UTF-8 bytes.
    package var canonicalSerializedBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64)
        write(to: &out, sortKeys: true)
        return out
    }

    /// Appends the compact serialization of this value to `out`, optionally sorting
    /// object keys bytewise (recursively).
    package func write(to out: inout [UInt8], sortKeys: Bool) {
        switch self {
        case .null:
            out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])  // null
        case .bool(true):
            out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])  // true
        case .bool(false):
            out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])  // false
        case .number(let text):
            out.append(contentsOf: text.utf8)
        case .string(let s):
            JSONString.append(s, to: &out)
        case .array(let elements):
            out.append(0x5B)  // [
            var first = true
            for element in elements {
                if !first { out.append(0x2C) }
                first = false
                element.write(to: &out, sortKeys: sortKeys)
            }
            out.append(0x5D)  // ]
        case .object(let object):
            out.append(0x7B)  // {
            var members = object.members
            if sortKeys && members.count > 1 {
                // Stable sort by UTF-8 bytes of the key.
                let order = members.indices.sorted { a, b in
                    let ka = members[a].key.utf8
                    let kb = members[b].key.utf8
                    if ka.elementsEqual(kb) { return a < b }
                    return ka.lexicographicallyPrecedes(kb)
                }
                members = order.map { members[$0] }
            }
            var first = true
            for member in members {
                if !first { out.append(0x2C) }
                first = false
                JSONString.append(member.key, to: &out)
                out.append(0x3A)  // :
                member.value.write(to: &out, sortKeys: sortKeys)
            }
            out.append(0x7D)  // }
        }
    }

    // MARK: Equatable / Hashable

    /// Exact structural equality: numbers by raw text, strings bytewise, objects by
    /// members in order.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): JSONObject.keysEqual(a, b)
        case (.string(let a), .string(let b)): JSONObject.keysEqual(a, b)
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    /// Hashes the value consistently with ``==(_:_:)``.
    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null:
            hasher.combine(0 as UInt8)
        case .bool(let b):
            hasher.combine(1 as UInt8)
            hasher.combine(b)
        case .number(let n):
            hasher.combine(2 as UInt8)
            hasher.combine(n)
        case .string(let s):
            hasher.combine(3 as UInt8)
            hasher.combine(s)
        case .array(let a):
            hasher.combine(4 as UInt8)
            hasher.combine(a)
        case .object(let o):
            hasher.combine(5 as UInt8)
            hasher.combine(o)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral {
    /// Creates a ``string(_:)`` value from a string literal.
    public init(stringLiteral value: String) {
        self = .string(value)
    }
}

extension JSONValue: ExpressibleByIntegerLiteral {
    /// Creates a ``number(_:)`` value from an integer literal.
    public init(integerLiteral value: Int) {
        self = .number(String(value))
    }
}

extension JSONValue: ExpressibleByBooleanLiteral {
    /// Creates a ``bool(_:)`` value from `true` or `false`.
    public init(booleanLiteral value: Bool) {
        self = .bool(value)
    }
}

extension JSONValue: ExpressibleByArrayLiteral {
    /// Creates an ``array(_:)`` value from an array literal.
    public init(arrayLiteral elements: JSONValue...) {
        self = .array(elements)
    }
}

extension JSONValue: ExpressibleByDictionaryLiteral {
    /// Creates an ``object(_:)`` value from a dictionary literal, keeping the written
    /// order and any duplicate keys.
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(JSONObject(elements.map { (key: $0.0, value: $0.1) }))
    }
}

extension JSONValue: CustomStringConvertible {
    /// The compact serialization (``serialized``).
    public var description: String { serialized }
}
