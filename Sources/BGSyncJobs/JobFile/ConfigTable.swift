import BGSyncReplication
import BGSyncStore

/// A table of a configuration file with typed, validating accessors: every error names the
/// file, the line (when known), the key and what is accepted.
struct ConfigTable {
    let object: JSONObject
    let file: String
    /// The dotted path of this table (`schedule`, `factories.notes`), nil for the root.
    let section: String?
    let document: TOMLDocument?

    init(_ object: JSONObject, file: String, section: String? = nil, document: TOMLDocument? = nil) {
        self.object = object
        self.file = file
        self.section = section
        self.document = document
    }

    func keyPath(_ key: String) -> String { section.map { "[\($0)] \(key)" } ?? key }

    func error(_ key: String?, _ problem: String) -> JobError {
        let line = key.flatMap { document?.line(of: $0, in: section) }
        return JobError.config(file, line: line, key: key.map(keyPath), problem)
    }

    /// Refuses keys outside `accepted`, suggesting the closest.
    func checkKeys(_ accepted: [String]) throws {
        if let first = unknownKeys(accepted).first { throw first }
    }

    /// One error per key outside `accepted`, each suggesting the closest.
    func unknownKeys(_ accepted: [String]) -> [JobError] {
        object.keys.filter { !accepted.contains($0) }.map { error($0, Suggestion.unknownKey($0, accepted: accepted)) }
    }

    func string(_ key: String) throws -> String? {
        guard let value = object[key] else { return nil }
        guard let text = value.stringValue else { throw error(key, "expected a string, got \(value.serialized.prefix(60))") }
        return text
    }

    func requiredString(_ key: String, _ meaning: String) throws -> String {
        guard let text = try string(key) else { throw error(key, "missing; expected \(meaning)") }
        return text
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = object[key] else { return nil }
        guard let flag = value.boolValue else { throw error(key, "expected true or false, got \(value.serialized.prefix(60))") }
        return flag
    }

    func int(_ key: String, range: ClosedRange<Int>) throws -> Int? {
        guard let value = object[key] else { return nil }
        guard let number = value.intValue, range.contains(number) else {
            throw error(key, "expected an integer from \(range.lowerBound) to \(range.upperBound), got \(value.serialized.prefix(60))")
        }
        return number
    }

    func duration(_ key: String) throws -> Double? {
        guard let value = object[key] else { return nil }
        if let number = value.intValue, number >= 0, Double(number) <= DurationText.maximum { return Double(number) }
        guard let text = value.stringValue, let seconds = DurationText.seconds(text) else {
            throw error(key, "expected \(DurationText.accepted), got \(value.serialized.prefix(60))")
        }
        return seconds
    }

    /// A duration that must be above zero (a timeout).
    func positiveDuration(_ key: String) throws -> Double? {
        guard let seconds = try duration(key) else { return nil }
        guard seconds > 0 else { throw error(key, "expected a duration above zero, e.g. \"10s\"") }
        return seconds
    }

    func size(_ key: String) throws -> Int64? {
        guard let value = object[key] else { return nil }
        if let number = value.intValue, number >= 0 { return Int64(number) }
        guard let text = value.stringValue, let bytes = ByteSize.bytes(text) else {
            throw error(key, "expected \(ByteSize.accepted), got \(value.serialized.prefix(60))")
        }
        return bytes
    }

    /// `"50%"` (0–100) or a whole number of documents (`200` or `"200"`).
    func deletionLimit(_ key: String) throws -> DeletionLimit? {
        guard let value = object[key] else { return nil }
        let limit: DeletionLimit?
        if let number = value.intValue {
            limit = DeletionLimit(count: number)
        } else if let text = value.stringValue {
            limit = DeletionLimit(parsing: text)
        } else {
            limit = nil
        }
        guard let limit else { throw error(key, "expected \(DeletionLimit.accepted), got \(value.serialized.prefix(60))") }
        return limit
    }

    func choice<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws -> E? where E.RawValue == String {
        try choice(key, type, accepted: E.allCases.map(\.rawValue))
    }

    func choice<E: RawRepresentable>(_ key: String, _ type: E.Type, accepted: [String]) throws -> E? where E.RawValue == String {
        guard let text = try string(key) else { return nil }
        guard let value = E(rawValue: text) else {
            var problem = "\"\(text)\" is not accepted"
            if let close = Suggestion.closest(to: text, among: accepted) { problem += " (did you mean \"\(close)\"?)" }
            throw error(key, problem + "; accepted: " + accepted.joined(separator: ", "))
        }
        return value
    }

    func table(_ key: String) throws -> ConfigTable? {
        guard let value = object[key] else { return nil }
        guard let table = value.objectValue else { throw error(key, "expected a table ({ … } or [\(keyPath(key))])") }
        return ConfigTable(table, file: file, section: section.map { "\($0).\(key)" } ?? key, document: document)
    }

    func stringArray(_ key: String) throws -> [String]? {
        guard let value = object[key] else { return nil }
        guard let array = value.arrayValue else { throw error(key, "expected an array of strings") }
        return try array.map { element in
            guard let text = element.stringValue else { throw error(key, "expected an array of strings, found \(element.serialized.prefix(60))") }
            return text
        }
    }
}
