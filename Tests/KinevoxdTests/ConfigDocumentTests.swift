import XCTest
@testable import KinevoxdConfig

/// Refusals of the TOML configuration name the file, the line and the reason.
final class ConfigDocumentTests: XCTestCase {
    private func refusal(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ConfigError? {
        do {
            let document = try ConfigDocument(path: "test.toml", text: text)
            let section = try document.section("vad")
            _ = try section.int("hangover_ms", default: 300, in: 0...5000)
            _ = try section.double("threshold_db", default: -40, in: -120...0)
            _ = try section.stringArray("names", default: [])
            try section.finish()
            try document.finish()
            return nil
        } catch let error as ConfigError {
            return error
        } catch {
            XCTFail("unexpected error \(error)", file: file, line: line)
            return nil
        }
    }

    func testValidDocumentIsAccepted() {
        XCTAssertNil(refusal("# comment\n[vad]\nhangover_ms = 250\nthreshold_db = -35.5\nnames = [\"a\"]\n"))
        XCTAssertNil(refusal(""), "every key has a default")
    }

    func testUnknownKeyNamesItsLine() throws {
        let error = try XCTUnwrap(refusal("[vad]\nhangover_ms = 250\n\n  hangover = 3\n"))
        XCTAssertEqual(error.line, 4)
        XCTAssertEqual(error.file, "test.toml")
        XCTAssertTrue(error.reason.contains("unknown key"), error.reason)
        XCTAssertTrue(error.description.hasPrefix("test.toml:4: [vad] hangover: unknown key"), error.description)
    }

    func testKeyOfTheSameNameInAnotherSectionIsNotMistakenForIt() throws {
        let error = try XCTUnwrap(refusal("[other]\nhangover_ms = 1\n[vad]\nhangover_ms = -1\n"))
        XCTAssertEqual(error.line, 4, "the [vad] key, not the [other] one on line 2")
        XCTAssertTrue(error.reason.contains("-1 is out of range"), error.reason)
        let badValue = try XCTUnwrap(refusal("[vad]\nthreshold_db = -3\n[capture]\n"))
        XCTAssertEqual(badValue.line, 3)
        XCTAssertTrue(badValue.reason.contains("unknown section [capture]"), badValue.reason)
    }

    func testOutOfRangeValueNamesItsLineAndRange() throws {
        let error = try XCTUnwrap(refusal("[vad]\n\"threshold_db\" = 0\nhangover_ms = 9000 # too long\n"))
        XCTAssertEqual(error.line, 3)
        XCTAssertTrue(error.reason.contains("9000 is out of range; allowed 0...5000"), error.reason)
    }

    func testWrongTypeNamesItsLine() throws {
        let error = try XCTUnwrap(refusal("[vad]\nhangover_ms = 250\nthreshold_db = \"loud\"\n"))
        XCTAssertEqual(error.line, 3)
        XCTAssertTrue(error.reason.contains("must be a number, not a string"), error.reason)
        let array = try XCTUnwrap(refusal("[vad]\nnames = [\"a\", 2]\n"))
        XCTAssertEqual(array.line, 2)
    }

    func testSyntaxErrorNamesTOMLKitsLine() throws {
        let error = try XCTUnwrap(refusal("[vad]\nhangover_ms = 250\nthreshold_db = = 3\n"))
        XCTAssertEqual(error.line, 3)
        XCTAssertTrue(error.reason.hasPrefix("TOML syntax"), error.reason)
    }

    /// Found by Fuzz/fuzz-config: toml++ (inside TOMLKit) aborted kinevoxd on a header with no key after its `[`.
    func testHeaderWithoutANameIsASyntaxErrorNotAnAbort() throws {
        for (text, line) in [("[\n", 1), ("[vad]\nhangover_ms = 1\n[ \t\n", 3), ("[[ # x\n", 1), ("[\nmulti\n\"capture\n", 1),
                             ("[vad]\n[[\n", 2), ("[{\n", 1)] {
            let error = try XCTUnwrap(refusal(text), text)
            XCTAssertEqual(error.description, "test.toml:\(line): TOML syntax: a table header needs a name after its '[', as in [server]")
        }
    }

    /// Found by Fuzz/fuzz-config: toml++ asserted (aborting kinevoxd) on a `}` where an array expects an element.
    func testClosingBraceWhereAnArrayElementIsDueIsASyntaxErrorNotAnAbort() throws {
        for (text, line) in [("[extra]\nx = [1,}]\n", 2), ("x = [\n# c\n}\n", 3), ("x = [[1], [\n }]]\n", 2)] {
            let error = try XCTUnwrap(refusal(text), text)
            XCTAssertEqual(error.description, "test.toml:\(line): TOML syntax: expected an array element or ']', found '}'")
        }
        XCTAssertNil(ConfigDocument.syntaxTheParserAbortsOn("x = [{a = 1}, {}]\ny = { a = [1, 2] }\n"))
    }

    func testBracketsInsideArraysStringsAndCommentsAreNotHeaders() {
        XCTAssertNil(ConfigDocument.syntaxTheParserAbortsOn("names = [\n  [\n\"a\"],\n]\n"))
        XCTAssertNil(ConfigDocument.syntaxTheParserAbortsOn("a = \"\"\"\n[\n\"\"\"\nb = '''\n[\n'''\n# [\n"))
        XCTAssertNil(ConfigDocument.syntaxTheParserAbortsOn("t = { a = [\n[\n1]] }\n"))
        XCTAssertEqual(ConfigDocument.syntaxTheParserAbortsOn("a = \"x\\\"[\"\n[\n")?.line, 2, "an escaped quote does not end the string")
        let nested = refusal("[vad]\nnames = [\n[\n\"a\"]]\n")
        XCTAssertEqual(nested?.line, 2, "a nested array's line is a value, refused by the getter at its key")
        XCTAssertTrue(nested?.reason.contains("array of strings") ?? false, "\(String(describing: nested))")
    }

    /// Found by Fuzz/fuzz-config: "\r\n" is one Swift Character, so a file with Windows line ends was one line
    /// and every refusal in it named line 1.
    func testWindowsLineEndsCountAsLines() throws {
        let error = try XCTUnwrap(refusal("# kinevoxd\r\n[vad]\r\nhangover_ms = 250\r\n\r\nhangover = 3\r\n"))
        XCTAssertEqual(error.line, 5, error.description)
    }

    func testUnknownTopLevelKeyIsRefused() throws {
        let error = try XCTUnwrap(refusal("loose = 1\n[vad]\n"))
        XCTAssertEqual(error.line, 1)
        XCTAssertTrue(error.reason.contains("outside any section"), error.reason)
    }

    func testMissingFileIsRefusedWithReason() {
        XCTAssertThrowsError(try ConfigDocument(path: "/nonexistent/kinevox.toml")) { error in
            XCTAssertEqual((error as? ConfigError)?.description, "/nonexistent/kinevox.toml: cannot read the configuration file (no such file)")
        }
    }
}
