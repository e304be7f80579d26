/// A JSON object that keeps its members exactly as written: in source order, and
/// with duplicate keys preserved.
///
/// Key lookups (``subscript(_:)``, ``set(_:_:)``, ``removeValue(forKey:)``) and
/// equality compare keys by their UTF-8 bytes, not by Unicode canonical
/// equivalence, so `"é"` (U+00E9) and `"e\u{301}"` are different keys, as they
/// are in CouchDB.
public struct JSONObject: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    /// One member of an object: a key and its value.
    public typealias Member = (key: String, value: JSONValue)

    /// The members of the object, in order. Duplicate keys are allowed.
    public var members: [Member]

    /// Creates an empty object.
    public init() {
        members = []
    }

    /// Creates an object with the given members, in order, duplicates kept.
    public init(_ members: [Member]) {
        self.members = members
    }

    /// Creates an object from a literal such as `["a": 1, "b": "x"]`, keeping the
    /// written order (and any duplicate keys).
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        members = elements.map { (key: $0.0, value: $0.1) }
    }

    /// The number of members, counting duplicates.
    public var count: Int { members.count }

    /// Whether the object has no members.
    public var isEmpty: Bool { members.isEmpty }

    /// The keys, in order, duplicates included.
    public var keys: [String] { members.map(\.key) }

    /// The index in ``members`` of the first member whose key equals `key` (bytewise).
    public func index(forKey key: String) -> Int? {
        members.firstIndex { Self.keysEqual($0.key, key) }
    }

    /// The value of the first member with this key, or `nil` if there is none.
    ///
    /// Setting a value behaves like ``set(_:_:)``; setting `nil` behaves like
    /// ``removeValue(forKey:)``.
    public subscript(key: String) -> JSONValue? {
        get {
            for member in members where Self.keysEqual(member.key, key) {
                return member.value
            }
            return nil
        }
        set {
            if let newValue {
                set(key, newValue)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Replaces the value of the first member with this key, or appends a new
    /// member at the end if there is none. Later duplicates are left untouched.
    public mutating func set(_ key: String, _ value: JSONValue) {
        if let index = index(forKey: key) {
            members[index].value = value
        } else {
            members.append((key: key, value: value))
        }
    }

    /// Removes every member with this key and returns the value of the first one
    /// removed, or `nil` if there was none.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSONValue? {
        guard let first = index(forKey: key) else { return nil }
        let value = members[first].value
        members.removeAll { Self.keysEqual($0.key, key) }
        return value
    }

    /// Returns an iterator over the members, in order.
    public func makeIterator() -> IndexingIterator<[Member]> {
        members.makeIterator()
    }

    /// Two objects are equal when they have the same members in the same order
    /// (keys compared bytewise, values with ``JSONValue``'s equality).
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.members.count == rhs.members.count else { return false }
        for (l, r) in zip(lhs.members, rhs.members) {
            guard keysEqual(l.key, r.key), l.value == r.value else { return false }
        }
        return true
    }

    /// Hashes the members in order.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(members.count)
        for member in members {
            hasher.combine(member.key)
            hasher.combine(member.value)
        }
    }

    /// Bytewise (UTF-8) string equality, as opposed to Swift's canonical equivalence.
    static func keysEqual(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count && a.utf8.elementsEqual(b.utf8)
    }
}
