import BGSyncTestSupport
import Testing
import BGSyncStore

@Suite struct JSONRandomizedTests {
    static func number(_ rng: inout SeededRandom) -> String {
        var text = Bool.random(using: &rng) ? "-" : ""
        if Int.random(in: 0..<4, using: &rng) == 0 {
            text += "0"
        } else {
            text += String(Int.random(in: 1...9, using: &rng))
            for _ in 0..<Int.random(in: 0..<22, using: &rng) { text += String(Int.random(in: 0...9, using: &rng)) }
        }
        if Bool.random(using: &rng) {
            text += "."
            for _ in 0..<Int.random(in: 1..<6, using: &rng) { text += String(Int.random(in: 0...9, using: &rng)) }
        }
        if Int.random(in: 0..<3, using: &rng) == 0 {
            text += ["e", "E"].randomElement(using: &rng) ?? "e"
            text += ["", "+", "-"].randomElement(using: &rng) ?? ""
            for _ in 0..<Int.random(in: 1..<4, using: &rng) { text += String(Int.random(in: 0...9, using: &rng)) }
        }
        return text
    }

    static func string(_ rng: inout SeededRandom) -> String {
        let pools: [ClosedRange<UInt32>] = [
            0x20...0x7E, 0x20...0x7E, 0x00...0x1F, 0x22...0x22, 0x5C...0x5C, 0x2F...0x2F,
            0x80...0x7FF, 0x800...0xD7FF, 0xE000...0xFFFF, 0x10000...0x10FFFF,
        ]
        var scalars = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0..<12, using: &rng) {
            let pool = pools[Int.random(in: 0..<pools.count, using: &rng)]
            if let scalar = Unicode.Scalar(UInt32.random(in: pool, using: &rng)) {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    static func value(_ rng: inout SeededRandom, depth: Int) -> JSONValue {
        let choice = Int.random(in: 0..<(depth > 4 ? 4 : 7), using: &rng)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(number(&rng))
        case 3: return .string(string(&rng))
        case 4, 5:
            let count = Int.random(in: 0..<5, using: &rng)
            return .array((0..<count).map { _ in value(&rng, depth: depth + 1) })
        default:
            var object = JSONObject()
            var keys: [String] = []
            for _ in 0..<Int.random(in: 0..<5, using: &rng) {
                // Sometimes reuse a key to produce duplicates.
                let key = (!keys.isEmpty && Int.random(in: 0..<5, using: &rng) == 0)
                    ? keys[Int.random(in: 0..<keys.count, using: &rng)] : string(&rng)
                keys.append(key)
                object.members.append((key: key, value: value(&rng, depth: depth + 1)))
            }
            return .object(object)
        }
    }

    /// Serializes with random insignificant whitespace between tokens.
    static func spaced(_ value: JSONValue, _ rng: inout SeededRandom) -> String {
        func ws(_ rng: inout SeededRandom) -> String {
            Int.random(in: 0..<3, using: &rng) == 0 ? (["", " ", "\n", "\t", "\r\n  "].randomElement(using: &rng) ?? "") : ""
        }
        switch value {
        case .array(let elements):
            return "[" + ws(&rng) + elements.map { spaced($0, &rng) + ws(&rng) }.joined(separator: "," + ws(&rng)) + "]"
        case .object(let object):
            return "{" + ws(&rng)
                + object.members.map { JSONString.quoted($0.key) + ws(&rng) + ":" + ws(&rng) + spaced($0.value, &rng) + ws(&rng) }
                .joined(separator: "," + ws(&rng)) + "}"
        default:
            return value.serialized
        }
    }

    @Test func randomValuesSurviveSerializeAndParse() throws {
        var rng = SeededRandom(seed: 0x5EED_CAFE)
        for _ in 0..<400 {
            let value = Self.value(&rng, depth: 0)
            let text = value.serialized
            let parsed = try JSONValue.parse(text)
            #expect(parsed == value, "\(text)")
            #expect(parsed.serialized == text)
            #expect(try JSONValue.parse(value.canonicalSerialized).canonicalSerialized == value.canonicalSerialized)

            let spacedText = Self.spaced(value, &rng)
            #expect(try JSONValue.parse(spacedText) == value, "\(spacedText)")
            var reader = JSONReader(" " + spacedText + "\n")
            #expect(try reader.skipValue() == 1..<(1 + spacedText.utf8.count))
            try reader.finish()
        }
    }

    @Test func randomlyCorruptedInputThrowsOrRoundTripsButNeverCrashes() {
        var rng = SeededRandom(seed: 42)
        let alphabet = Array(#"{}[],:"\u0aeE+-.019tfn "#.utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xED, 0xF0, 0xFF]
        var accepted = 0
        for _ in 0..<1500 {
            var bytes = Self.value(&rng, depth: 2).serializedBytes
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let position = Int.random(in: 0...bytes.count, using: &rng)
                let byte = alphabet[Int.random(in: 0..<alphabet.count, using: &rng)]
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes.insert(byte, at: position)
                case 1 where position < bytes.count: bytes.remove(at: position)
                default: if position < bytes.count { bytes[position] = byte }
                }
            }
            var skipper = JSONReader(bytes)
            let skipped: Bool
            do {
                try skipper.skipValue()
                try skipper.finish()
                skipped = true
            } catch {
                skipped = false
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
            do {
                let value = try JSONValue.parse(bytes)
                accepted += 1
                #expect(skipped, "skipValue rejected what parse accepted")
                #expect(try JSONValue.parse(value.serialized) == value)
            } catch {
                #expect(!skipped, "skipValue accepted what parse rejected: \(error)")
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
        #expect(accepted > 0)
    }
}
