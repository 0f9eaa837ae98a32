import Foundation
import XCTest
@testable import KinevoxServer

/// Bearer token, Origin allow-list and client limit, checked at the WebSocket handshake.
final class SecurityTests: XCTestCase {
    private func expectRefusal(_ harness: ServerHarness, headers: [String: String] = [:], path: String = "/",
                               status: Int, line: UInt = #line) {
        do {
            _ = try StreamClient(port: harness.server.port, path: path, headers: headers)
            XCTFail("handshake should be refused with \(status)", line: line)
        } catch StreamClient.Failure.refused(let got, _) {
            XCTAssertEqual(got, status, line: line)
        } catch {
            XCTFail("unexpected \(error)", line: line)
        }
    }

    func testTokenIsRequiredWhenConfigured() throws {
        let harness = try ServerHarness { $0.token = "s3cret" }
        defer { harness.stop() }
        expectRefusal(harness, status: 401)
        expectRefusal(harness, headers: ["Authorization": "Bearer wrong"], status: 401)
        expectRefusal(harness, path: "/?token=wrong", status: 401)
        _ = try harness.connect(headers: ["Authorization": "Bearer s3cret"])
        _ = try harness.connect(path: "/?token=s3cret")
        XCTAssertEqual(try harness.get("/metrics").status, 401)
        XCTAssertEqual(try harness.get("/metrics?token=s3cret").status, 200)
        XCTAssertEqual(try harness.get("/metrics", headers: ["Authorization": "Bearer s3cret"]).status, 200)
        XCTAssertEqual(try harness.get("/healthz").status, 200, "health checks need no token")
        // The server goes on serving the accepted clients.
        let client = try harness.connect(headers: ["Authorization": "Bearer s3cret"])
        harness.speak()
        XCTAssertEqual(try nextMessage(client)["type"] as? String, "utterance")
    }

    func testBrowserOriginsAreChecked() throws {
        let harness = try ServerHarness { $0.allowedOrigins = ["http://viewer.example"] }
        defer { harness.stop() }
        expectRefusal(harness, headers: ["Origin": "http://evil.example"], status: 403)
        _ = try harness.connect(headers: ["Origin": "http://viewer.example"])
        // The page this server serves itself is always allowed (Origin = http:// + Host).
        _ = try harness.connect(headers: ["Origin": "http://127.0.0.1:\(harness.server.port)"])
        // Programs that send no Origin are not browsers.
        _ = try harness.connect()
    }

    func testMaxClients() throws {
        let harness = try ServerHarness { $0.maxClients = 2 }
        defer { harness.stop() }
        let first = try harness.connect()
        let second = try harness.connect()
        expectRefusal(harness, status: 503)
        first.close()
        defer { second.close() }
        // Once a client leaves there is room again.
        let deadline = ProcessInfo.processInfo.systemUptime + 5
        var admitted = false
        while !admitted && ProcessInfo.processInfo.systemUptime < deadline {
            admitted = (try? harness.connect()) != nil
            if !admitted { Thread.sleep(forTimeInterval: 0.05) }
        }
        XCTAssertTrue(admitted)
    }
}
