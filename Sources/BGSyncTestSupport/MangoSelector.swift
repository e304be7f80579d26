import BGSyncStore
import Foundation

/// A Mango selector (CouchDB's `_find` / `_selector` filter language), evaluated against a
/// document's JSON.
///
/// Supported: implicit equality (`{"type": "note"}`), dotted field paths (`"a.b"`, `\.` for a
/// literal dot), `$eq $ne $gt $gte $lt $lte $in $nin $exists $type $size $mod $regex $all
/// $elemMatch $allMatch`, and `$and $or $nor $not` both at the top level and on a field. As in
/// CouchDB, a condition on a missing field fails except `$exists: false`. Values compare in
/// CouchDB's collation order (null < false < true < numbers < strings < arrays < objects);
/// strings compare by Unicode code points, not ICU collation.
indirect enum MangoSelector: Sendable {
    case all([MangoSelector])
    case any([MangoSelector])
    case none([MangoSelector])
    case not(MangoSelector)
    /// A condition on the value at `path` (empty: the value itself, as inside `$elemMatch`).
    case field([String], Condition)

    enum Condition: Sendable {
        case compare(Operator, JSONValue)
        case inList([JSONValue])
        case notInList([JSONValue])
        case exists(Bool)
        case type(String)
        case size(Int)
        case mod(divisor: Int, remainder: Int)
        case regex(String)
        case containsAll([JSONValue])
        case elemMatch(MangoSelector)
        case allMatch(MangoSelector)
    }

    enum Operator: String, Sendable {
        case eq = "$eq", ne = "$ne", gt = "$gt", gte = "$gte", lt = "$lt", lte = "$lte"
    }

    // MARK: Parsing

    /// Parses a selector object; 400 `invalid_operator` or `bad_request` when it is not one.
    init(_ json: JSONValue) throws(FixtureError) {
        guard let object = json.objectValue else {
            throw FixtureError(400, "bad_request", "Selector must be a JSON object")
        }
        self = try Self.parse(object, path: [])
    }

    private static func parse(_ object: JSONObject, path: [String]) throws(FixtureError) -> MangoSelector {
        var parts: [MangoSelector] = []
        for member in object.members {
            if member.key.hasPrefix("$") {
                parts.append(try parseOperator(member.key, member.value, path: path))
            } else {
                parts.append(try parseField(path + splitPath(member.key), member.value))
            }
        }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private static func parseField(_ path: [String], _ value: JSONValue) throws(FixtureError) -> MangoSelector {
        if let object = value.objectValue, !object.isEmpty, object.keys.allSatisfy({ $0.hasPrefix("$") }) {
            return try parse(object, path: path)
        }
        return .field(path, .compare(.eq, value))
    }

    private static func parseOperator(_ name: String, _ value: JSONValue, path: [String]) throws(FixtureError) -> MangoSelector {
        func selectors(_ value: JSONValue) throws(FixtureError) -> [MangoSelector] {
            guard let array = value.arrayValue else { throw FixtureError(400, "bad_request", "\(name) requires an array argument") }
            var result: [MangoSelector] = []
            for element in array {
                guard let object = element.objectValue else { throw FixtureError(400, "bad_request", "\(name) requires an array of objects") }
                result.append(try parse(object, path: path))
            }
            return result
        }
        func array(_ value: JSONValue) throws(FixtureError) -> [JSONValue] {
            guard let array = value.arrayValue else { throw FixtureError(400, "bad_request", "\(name) requires an array argument") }
            return array
        }
        func subSelector(_ value: JSONValue) throws(FixtureError) -> MangoSelector {
            guard let object = value.objectValue else { throw FixtureError(400, "bad_request", "\(name) requires an object argument") }
            return try parse(object, path: [])
        }
        switch name {
        case "$and": return .all(try selectors(value))
        case "$or": return .any(try selectors(value))
        case "$nor": return .none(try selectors(value))
        case "$not":
            guard let object = value.objectValue else { throw FixtureError(400, "bad_request", "$not requires an object argument") }
            return .not(try parse(object, path: path))
        case "$eq", "$ne", "$gt", "$gte", "$lt", "$lte":
            return .field(path, .compare(Operator(rawValue: name)!, value))
        case "$in": return .field(path, .inList(try array(value)))
        case "$nin": return .field(path, .notInList(try array(value)))
        case "$all": return .field(path, .containsAll(try array(value)))
        case "$exists":
            guard let flag = value.boolValue else { throw FixtureError(400, "bad_request", "$exists requires a boolean") }
            return .field(path, .exists(flag))
        case "$type":
            guard let type = value.stringValue else { throw FixtureError(400, "bad_request", "$type requires a string") }
            return .field(path, .type(type))
        case "$size":
            guard let size = value.intValue else { throw FixtureError(400, "bad_request", "$size requires an integer") }
            return .field(path, .size(size))
        case "$mod":
            guard let pair = value.arrayValue, pair.count == 2, let divisor = pair[0].intValue, divisor != 0,
                  let remainder = pair[1].intValue
            else { throw FixtureError(400, "bad_request", "$mod requires [divisor, remainder]") }
            return .field(path, .mod(divisor: divisor, remainder: remainder))
        case "$regex":
            guard let pattern = value.stringValue, (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw FixtureError(400, "bad_request", "$regex requires a valid regular expression")
            }
            return .field(path, .regex(pattern))
        case "$elemMatch": return .field(path, .elemMatch(try subSelector(value)))
        case "$allMatch": return .field(path, .allMatch(try subSelector(value)))
        default:
            throw FixtureError(400, "invalid_operator", "Invalid operator: \(name)")
        }
    }

    /// `a.b\.c` → `["a", "b.c"]`.
    static func splitPath(_ key: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var escaped = false
        for character in key {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "." {
                parts.append(current)
                current = ""
            } else {
                current.append(character)
            }
        }
        parts.append(current)
        return parts
    }

    // MARK: Matching

    /// Whether `document` satisfies the selector.
    func matches(_ document: JSONValue) -> Bool {
        switch self {
        case .all(let parts): return parts.allSatisfy { $0.matches(document) }
        case .any(let parts): return parts.contains { $0.matches(document) }
        case .none(let parts): return !parts.contains { $0.matches(document) }
        case .not(let inner): return !inner.matches(document)
        case .field(let path, let condition):
            var value: JSONValue? = document
            for key in path {
                value = value?.objectValue?[key]
            }
            return Self.evaluate(condition, value)
        }
    }

    private static func evaluate(_ condition: Condition, _ value: JSONValue?) -> Bool {
        if case .exists(let flag) = condition { return (value != nil) == flag }
        guard let value else { return false }
        switch condition {
        case .exists: return true
        case .compare(let op, let argument):
            let order = collate(value, argument)
            switch op {
            case .eq: return order == 0
            case .ne: return order != 0
            case .gt: return order > 0
            case .gte: return order >= 0
            case .lt: return order < 0
            case .lte: return order <= 0
            }
        case .inList(let list):
            if let elements = value.arrayValue {
                return elements.contains { element in list.contains { collate(element, $0) == 0 } }
            }
            return list.contains { collate(value, $0) == 0 }
        case .notInList(let list):
            if let elements = value.arrayValue {
                return !elements.contains { element in list.contains { collate(element, $0) == 0 } }
            }
            return !list.contains { collate(value, $0) == 0 }
        case .type(let name):
            return typeName(value) == name
        case .size(let size):
            return value.arrayValue?.count == size
        case .mod(let divisor, let remainder):
            guard let number = value.intValue else { return false }
            return number % divisor == remainder
        case .regex(let pattern):
            guard let text = value.stringValue, let regex = try? NSRegularExpression(pattern: pattern) else { return false }
            return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
        case .containsAll(let list):
            guard let elements = value.arrayValue else { return false }
            return list.allSatisfy { wanted in elements.contains { collate($0, wanted) == 0 } }
        case .elemMatch(let selector):
            return value.arrayValue?.contains { selector.matches($0) } ?? false
        case .allMatch(let selector):
            guard let elements = value.arrayValue, !elements.isEmpty else { return false }
            return elements.allSatisfy { selector.matches($0) }
        }
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// CouchDB's collation: null < false < true < numbers < strings < arrays < objects.
    static func collate(_ a: JSONValue, _ b: JSONValue) -> Int {
        func rank(_ value: JSONValue) -> Int {
            switch value {
            case .null: 0
            case .bool(false): 1
            case .bool(true): 2
            case .number: 3
            case .string: 4
            case .array: 5
            case .object: 6
            }
        }
        let (ra, rb) = (rank(a), rank(b))
        if ra != rb { return ra < rb ? -1 : 1 }
        switch (a, b) {
        case (.number(let x), .number(let y)):
            let (dx, dy) = (Double(x) ?? 0, Double(y) ?? 0)
            return dx == dy ? 0 : (dx < dy ? -1 : 1)
        case (.string(let x), .string(let y)):
            return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars) ? -1
                : (x.unicodeScalars.elementsEqual(y.unicodeScalars) ? 0 : 1)
        case (.array(let x), .array(let y)):
            for (ex, ey) in zip(x, y) {
                let order = collate(ex, ey)
                if order != 0 { return order }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        case (.object(let x), .object(let y)):
            for (mx, my) in zip(x.members, y.members) {
                let keyOrder = collate(.string(mx.key), .string(my.key))
                if keyOrder != 0 { return keyOrder }
                let valueOrder = collate(mx.value, my.value)
                if valueOrder != 0 { return valueOrder }
            }
            return x.count == y.count ? 0 : (x.count < y.count ? -1 : 1)
        default:
            return 0
        }
    }
}
