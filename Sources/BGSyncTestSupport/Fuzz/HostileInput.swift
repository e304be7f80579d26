import BGSyncStore
import Foundation

/// Mutations of valid inputs into the malformed, oversized and hostile inputs a broken or
/// malicious peer (or a careless editor of a configuration file) produces: wrong types,
/// missing members, huge numbers, deep nesting, invalid UTF-8, NUL bytes, path traversal.
///
/// ```swift
/// for seed in 0..<UInt64(HostileInput.iterations(default: 300)) {
///     var rng = SeededRandom(seed: seed)
///     let body = HostileInput.mutateJSON(validBody, &rng)
///     // feed `body`; expect a clear error or a valid result, never a crash
/// }
/// ```
public enum HostileInput {
    /// How many iterations a fuzz test runs: `BGSYNC_FUZZ_ITERATIONS` when set to a positive
    /// integer (read only, for long runs outside CI), else `defaultCount`.
    public static func iterations(default defaultCount: Int) -> Int {
        if let text = ProcessInfo.processInfo.environment["BGSYNC_FUZZ_ITERATIONS"], let count = Int(text), count > 0 {
            return count
        }
        return defaultCount
    }

    /// Strings a hostile peer would try: traversal, separators, NUL, shell syntax, control
    /// characters, odd Unicode, reserved prefixes, very long text.
    public static let nastyStrings: [String] = [
        "", " ", "../../../../tmp/bgsync-escape", "/etc/passwd", "..", ".", "a/b", "\\..\\..\\x",
        "a\u{0}b", "\u{0}", "$(touch /tmp/bgsync-pwned)", "`touch /tmp/bgsync-pwned`", "; rm -rf /", "|cat",
        "%2e%2e%2f", "_design/../../x", "_local/x", "_x", "\n\r\t", "\u{1F600}", "\u{FEFF}", "\u{202E}txt.exe",
        "\u{10FFFF}", "1-", "-1-a", "0-a", "1-\"", "99999999999999999999-a", "1-" + String(repeating: "a", count: 129),
        String(repeating: "x", count: 70_000), "null", "true", "{}", "[]",
    ]

    /// Numbers beyond every integer type, and other number edge cases.
    public static let nastyNumbers: [String] = [
        "0", "-0", "-1", "1e999", "-1e999", "99999999999999999999999999", "9223372036854775807", "9223372036854775808",
        "-9223372036854775809", "1.5", "1e-999", "0.0000000000000000000001", "123456789012345678901234567890.5",
    ]

    /// A random JSON value of bounded size.
    public static func randomValue(_ rng: inout SeededRandom, depth: Int = 0) -> JSONValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(rng.pick(nastyNumbers))
        case 3: return .string(rng.pick(nastyStrings))
        case 4: return .string(String(Int.random(in: 0...99, using: &rng)) + "-" + String(UInt64.random(in: 0...UInt64.max, using: &rng), radix: 16))
        case 5:
            return .array((0..<Int.random(in: 0...3, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var object = JSONObject()
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                object.members.append((key: rng.pick(nastyStrings + ["id", "rev", "_id", "_rev", "ok", "docs"]), value: randomValue(&rng, depth: depth + 1)))
            }
            return .object(object)
        }
    }

    /// A structural mutation of `value`: one or more nested members replaced by values of
    /// other types, removed, duplicated or multiplied, keys renamed.
    public static func mutateValue(_ value: JSONValue, _ rng: inout SeededRandom, depth: Int = 0) -> JSONValue {
        // Either mutate here, or descend into a child and mutate there.
        let descend = depth < 8 && rng.chance(70)
        switch value {
        case .object(var object) where descend && !object.members.isEmpty:
            let index = Int.random(in: 0..<object.members.count, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: object.members.remove(at: index)
            case 1: object.members[index].key = rng.pick(nastyStrings)
            case 2: object.members.append(object.members[index])
            default: object.members[index].value = mutateValue(object.members[index].value, &rng, depth: depth + 1)
            }
            return .object(object)
        case .array(var items) where descend && !items.isEmpty:
            let index = Int.random(in: 0..<items.count, using: &rng)
            switch Int.random(in: 0..<10, using: &rng) {
            case 0: items.remove(at: index)
            case 1: items += Array(repeating: items[index], count: Int.random(in: 2...200, using: &rng))
            default: items[index] = mutateValue(items[index], &rng, depth: depth + 1)
            }
            return .array(items)
        default:
            switch Int.random(in: 0..<6, using: &rng) {
            case 0: return .array([value])
            case 1: return .object(JSONObject([("x", value)]))
            default: return randomValue(&rng)
            }
        }
    }

    /// A mutation of JSON text: usually a structural mutation (still valid JSON, wrong
    /// content), sometimes a byte-level one (invalid JSON, invalid UTF-8, deep nesting).
    public static func mutateJSON(_ text: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        if rng.chance(65), let value = try? JSONValue.parse(text) {
            var mutated = value
            for _ in 0..<Int.random(in: 1...3, using: &rng) { mutated = mutateValue(mutated, &rng) }
            return Array(mutated.serialized.utf8)
        }
        return mutateBytes(text, &rng)
    }

    /// Byte-level mutations: flipped, inserted, deleted and duplicated bytes, JSON tokens
    /// spliced in, invalid UTF-8, deep nesting, truncation.
    public static func mutateBytes(_ input: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var bytes = input
        let tokens: [[UInt8]] = [
            Array("{".utf8), Array("}".utf8), Array("[".utf8), Array("]".utf8), Array("\"".utf8), Array(",".utf8),
            Array(":".utf8), Array("null".utf8), Array("1e999".utf8), Array("-".utf8), Array("\\u0000".utf8),
            Array("\\ud800".utf8), [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0x00], [0x80],
            Array(String(repeating: "[", count: 600).utf8), Array(String(repeating: "{\"a\":", count: 600).utf8),
        ]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let position = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &rng)
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty: bytes[position] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1: bytes.insert(contentsOf: rng.pick(tokens), at: position)
            case 2 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...16, using: &rng))
                bytes.removeSubrange(position..<end)
            case 3 where !bytes.isEmpty:
                let end = min(bytes.count, position + Int.random(in: 1...32, using: &rng))
                bytes.insert(contentsOf: bytes[position..<end], at: position)
            case 4: bytes = Array(bytes.prefix(position))
            default: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: position)
            }
        }
        return bytes
    }
}
