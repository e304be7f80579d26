import BGSyncStore
import BGSyncTestSupport
import Foundation
import Testing

/// bgsync's JSON parser and Python's `json` (strict: UTF-8 only, no `NaN`/`Infinity`) give the
/// same verdict — valid or not — on mutated inputs. Python is on every machine CI runs on.
@Suite("JSON verdicts agree with Python's json")
struct JSONPythonDifferentialTests {
    /// `python3` on `PATH` (read, never changed), nil when there is none.
    static let python: String? = {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/python3" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    /// Reads one hex-encoded input per line; writes one verdict per input: `1` valid, `0`
    /// invalid, `s` skipped (Python goes further than bgsync may: a lone surrogate escape is
    /// allowed by RFC 8259's grammar, and Python's recursion limit is not a JSON rule).
    static let script = #"""
    import sys, json, binascii
    def constant(name): raise ValueError(name)
    def surrogates(value):
        if isinstance(value, str): return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
        if isinstance(value, list): return any(surrogates(v) for v in value)
        if isinstance(value, dict): return any(surrogates(k) or surrogates(v) for k, v in value.items())
        return False
    out = []
    for line in sys.stdin:
        data = binascii.unhexlify(line.strip())
        try:
            value = json.loads(data.decode('utf-8'), parse_constant=constant)
            out.append('s' if surrogates(value) else '1')
        except RecursionError:
            out.append('s')
        except (ValueError, UnicodeDecodeError):
            out.append('0')
    sys.stdout.write(''.join(out))
    """#

    static let bases = [
        #"{"_id":"a","n":1,"list":[1,2.5,-3e4,true,false,null],"nested":{"s":"x\"y\\z\u00e9\ud83d\ude00"}}"#,
        #"[{"k":[]},{},"",0,-0.0,1E+2,"\t\n"]"#,
        #"{"text":"Grüße 日本 🎉","big":123456789012345678901234567890,"tiny":1e-400}"#,
        #"  {"a" : { "b" : [ 1 , { "c" : "d" } ] } }  "#,
    ]

    @Test("mutated inputs get the same verdict from both parsers (seed printed; BGSYNC_SEED replays)",
          .enabled(if: python != nil, "python3 is not on PATH"))
    func sameVerdicts() throws {
        let seed = SeededRandom.seed(for: "JSON vs Python")
        let count = HostileInput.iterations(default: 200_000)
        print("JSON vs Python: \(count) inputs")
        var rng = SeededRandom(seed: seed)
        var inputs: [[UInt8]] = []
        inputs.reserveCapacity(count)
        for _ in 0..<count {
            let base = Array(rng.pick(Self.bases).utf8)
            inputs.append(rng.chance(50) ? HostileInput.mutateBytes(base, &rng) : HostileInput.mutateJSON(base, &rng))
        }
        var hex = ""
        hex.reserveCapacity(inputs.reduce(0) { $0 + $1.count * 2 + 1 })
        let digits = Array("0123456789abcdef")
        for input in inputs {
            for byte in input {
                hex.append(digits[Int(byte >> 4)])
                hex.append(digits[Int(byte & 15)])
            }
            hex.append("\n")
        }
        let result = try TestProcess.run(try #require(Self.python), ["-c", Self.script], input: Array(hex.utf8))
        #expect(result.status == 0, "\(result.stderr)")
        let verdicts = Array(result.stdout)
        try #require(verdicts.count == inputs.count, "python gave \(verdicts.count) verdicts for \(inputs.count) inputs")
        var compared = 0, valid = 0, disagreements: [String] = []
        for (input, verdict) in zip(inputs, verdicts) where verdict != "s" {
            compared += 1
            let ours = (try? JSONValue.parse(input)) != nil
            if ours { valid += 1 }
            if ours != (verdict == "1"), disagreements.count < 10 {
                disagreements.append("bgsync \(ours ? "accepts" : "rejects"), Python \(verdict == "1" ? "accepts" : "rejects"): \(String(decoding: input.prefix(120), as: UTF8.self).debugDescription)")
            }
        }
        print("JSON vs Python: \(compared) compared (\(valid) valid), \(inputs.count - compared) skipped")
        #expect(disagreements.isEmpty, "seed \(seed):\n\(disagreements.joined(separator: "\n"))")
        #expect(compared > count / 2)
    }
}
