/// libwebsockets HTTP + WebSocket server.
