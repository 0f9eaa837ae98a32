// Kinevox viewer: draws the 22-joint avatar streamed by kinevoxd (protocol kinevox.v1) with
// three.js, and sends push-to-talk audio (microphone or a dropped WAV) as 16 kHz s16le chunks.
// State a test (or a curious user) can read is exposed as window.kinevoxViewer.
(function () {
  "use strict";

  var PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19];
  var UPLOAD_RATE = 16000;
  var CHUNK_SAMPLES = 4096;

  var statusEl = document.getElementById("status");
  var talkEl = document.getElementById("talk");
  var problemEl = document.getElementById("problem");
  var dropEl = document.getElementById("drop");

  var state = {
    connected: false,
    framesReceived: 0,
    framesRendered: 0,
    motionId: null,
    lastUtterance: null,
    latencyMs: null,
    error: null,
    pageErrors: [],
    threeLoaded: typeof THREE !== "undefined",
    pelvisRendered: function () { return avatar ? avatar.joints[0].position.toArray() : null; }
  };
  window.kinevoxViewer = state;
  window.addEventListener("error", function (e) { state.pageErrors.push(String(e.message)); });
  window.addEventListener("unhandledrejection", function (e) { state.pageErrors.push(String(e.reason)); });

  function showProblem(text) {
    problemEl.textContent = text;
    problemEl.style.display = "block";
    state.error = text;
  }

  function describe() {
    var parts = [state.connected ? "connected" : "disconnected (retrying; a server with a token needs ?token=… in this page's address)"];
    if (state.lastUtterance) {
      parts.push("last utterance #" + state.lastUtterance.id + " (" + (state.lastUtterance.duration_ms / 1000).toFixed(1) + " s)");
    } else {
      parts.push("no utterance yet");
    }
    if (state.latencyMs !== null) parts.push("latency " + state.latencyMs + " ms");
    if (state.motionId !== null) parts.push("motion #" + state.motionId);
    statusEl.textContent = parts.join(" · ");
  }

  // ---- scene -------------------------------------------------------------------------------
  var avatar = null, renderer = null, scene = null, camera = null, pose = null, poseDirty = false;
  var focus = null;

  function buildScene() {
    var stage = document.getElementById("stage");
    renderer = new THREE.WebGLRenderer({ antialias: true });
    renderer.setPixelRatio(window.devicePixelRatio || 1);
    renderer.setSize(window.innerWidth, window.innerHeight);
    stage.appendChild(renderer.domElement);
    scene = new THREE.Scene();
    scene.background = new THREE.Color(0x1d2228);
    camera = new THREE.PerspectiveCamera(45, window.innerWidth / window.innerHeight, 0.05, 100);
    scene.add(new THREE.HemisphereLight(0xffffff, 0x445566, 0.9));
    var sun = new THREE.DirectionalLight(0xffffff, 0.6);
    sun.position.set(3, 6, 4);
    scene.add(sun);
    // Floor: a 40 m plane with a 0.5 m grid drawn into a repeating texture (line primitives
    // are unreliable in software GL, a texture works everywhere).
    var cell = document.createElement("canvas");
    cell.width = cell.height = 64;
    var pen = cell.getContext("2d");
    pen.fillStyle = "#2c343d";
    pen.fillRect(0, 0, 64, 64);
    pen.fillStyle = "#6b7b8c";
    pen.fillRect(0, 0, 64, 2);
    pen.fillRect(0, 0, 2, 64);
    var gridTexture = new THREE.CanvasTexture(cell);
    gridTexture.wrapS = gridTexture.wrapT = THREE.RepeatWrapping;
    gridTexture.repeat.set(80, 80);
    gridTexture.anisotropy = renderer.capabilities.getMaxAnisotropy();
    var floor = new THREE.Mesh(new THREE.PlaneBufferGeometry(40, 40), new THREE.MeshLambertMaterial({ map: gridTexture }));
    floor.rotation.x = -Math.PI / 2;
    scene.add(floor);

    var jointMaterial = new THREE.MeshLambertMaterial({ color: 0xffb74d });
    var boneMaterial = new THREE.MeshLambertMaterial({ color: 0x64b5f6 });
    var sphere = new THREE.SphereBufferGeometry(0.035, 16, 12);
    var cylinder = new THREE.CylinderBufferGeometry(0.025, 0.025, 1, 12);
    avatar = { joints: [], bones: [], group: new THREE.Group() };
    avatar.group.visible = false;  // shown once the first pose arrives
    scene.add(avatar.group);
    for (var j = 0; j < PARENTS.length; j++) {
      var ball = new THREE.Mesh(sphere, j === 15 ? new THREE.MeshLambertMaterial({ color: 0xffe0b2 }) : jointMaterial);
      if (j === 15) ball.scale.setScalar(2.6);
      avatar.group.add(ball);
      avatar.joints.push(ball);
      if (PARENTS[j] >= 0) {
        var bone = new THREE.Mesh(cylinder, boneMaterial);
        avatar.group.add(bone);
        avatar.bones.push({ mesh: bone, child: j, parent: PARENTS[j] });
      }
    }
    focus = new THREE.Vector3(0, 0.9, 0);
    UP = new THREE.Vector3(0, 1, 0);
    tmpA = new THREE.Vector3();
    tmpB = new THREE.Vector3();
    window.addEventListener("resize", function () {
      camera.aspect = window.innerWidth / window.innerHeight;
      camera.updateProjectionMatrix();
      renderer.setSize(window.innerWidth, window.innerHeight);
    });
  }

  var UP = null, tmpA = null, tmpB = null;

  function applyPose(joints) {
    avatar.group.visible = true;
    for (var j = 0; j < joints.length; j++) avatar.joints[j].position.set(joints[j][0], joints[j][1], joints[j][2]);
    for (var b = 0; b < avatar.bones.length; b++) {
      var bone = avatar.bones[b];
      tmpA.fromArray(joints[bone.parent]);
      tmpB.fromArray(joints[bone.child]);
      var length = tmpA.distanceTo(tmpB);
      bone.mesh.position.copy(tmpA).add(tmpB).multiplyScalar(0.5);
      tmpB.sub(tmpA);
      if (length > 1e-6) bone.mesh.quaternion.setFromUnitVectors(UP, tmpB.divideScalar(length));
      bone.mesh.scale.set(1, Math.max(length, 1e-3), 1);
    }
  }

  function render() {
    requestAnimationFrame(render);
    if (poseDirty) {
      applyPose(pose);
      poseDirty = false;
      state.framesRendered++;
    }
    if (pose) {
      // The camera follows the pelvis smoothly, from the front-right, looking slightly down.
      tmpA.set(pose[0][0], 0.9, pose[0][2]);
      focus.lerp(tmpA, 0.08);
    }
    camera.position.set(focus.x + 2.0, focus.y + 1.5, focus.z + 3.3);
    camera.lookAt(focus);
    renderer.render(scene, camera);
  }

  // ---- stream ------------------------------------------------------------------------------
  var socket = null;
  var token = new URLSearchParams(window.location.search).get("token");

  function connect() {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
    if (token) url += "?token=" + encodeURIComponent(token);
    socket = new WebSocket(url, "kinevox.v1");
    socket.binaryType = "arraybuffer";
    socket.onopen = function () { state.connected = true; talkEl.disabled = false; describe(); };
    socket.onclose = function () {
      state.connected = false;
      talkEl.disabled = true;
      describe();
      setTimeout(connect, 2000);
    };
    socket.onmessage = function (event) {
      if (typeof event.data !== "string") return;
      var m = JSON.parse(event.data);
      switch (m.type) {
        case "hello":
          if (m.pose) { pose = m.pose; poseDirty = !!avatar; }
          break;
        case "utterance":
          state.lastUtterance = { id: m.id, duration_ms: m.duration_ms };
          break;
        case "motion.begin":
          state.motionId = m.id;
          if (typeof m.latency_ms === "number") state.latencyMs = m.latency_ms;
          break;
        case "frame":
          pose = m.joints;
          poseDirty = !!avatar;
          state.framesReceived++;
          break;
        case "motion.end":
          break;
        case "error":
          statusEl.textContent = "server: " + m.message;
          return;
      }
      describe();
    };
  }

  // ---- push-to-talk ------------------------------------------------------------------------
  function sendUtterance(int16Chunks) {
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "audio.begin", sample_rate: UPLOAD_RATE, encoding: "s16le" }));
    int16Chunks.forEach(function (chunk) { socket.send(chunk.buffer); });
    socket.send(JSON.stringify({ type: "audio.end" }));
  }

  function toInt16(floats) {
    var out = new Int16Array(floats.length);
    for (var i = 0; i < floats.length; i++) {
      var s = Math.max(-1, Math.min(1, floats[i]));
      out[i] = s < 0 ? s * 32768 : s * 32767;
    }
    return out;
  }

  // Linear-interpolation rate change, used only when the browser's audio runs at another rate.
  function toUploadRate(floats, rate) {
    if (rate === UPLOAD_RATE) return floats;
    var n = Math.floor(floats.length * UPLOAD_RATE / rate);
    var out = new Float32Array(n);
    for (var i = 0; i < n; i++) {
      var x = i * rate / UPLOAD_RATE, k = Math.floor(x), f = x - k;
      out[i] = floats[k] * (1 - f) + (k + 1 < floats.length ? floats[k + 1] : floats[k]) * f;
    }
    return out;
  }

  var mic = null;

  // Prefer a 16 kHz context (the browser resamples the microphone); browsers that cannot mix
  // rates get their native rate and toUploadRate converts.
  function openCapture(stream) {
    var context = null;
    try {
      context = new AudioContext({ sampleRate: UPLOAD_RATE });
      return { context: context, source: context.createMediaStreamSource(stream) };
    } catch (e) {
      if (context) context.close();
      context = new AudioContext();
      return { context: context, source: context.createMediaStreamSource(stream) };
    }
  }

  // Browsers offer the microphone only to secure pages (HTTPS, or http://localhost): a page opened from
  // another host over plain HTTP has no navigator.mediaDevices at all.
  var MIC_NEEDS_SECURE_PAGE = "microphone needs HTTPS or localhost — drop a WAV file instead";
  var micAvailable = !!(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  state.micAvailable = micAvailable;

  function startTalking() {
    if (mic || talkEl.disabled) return;
    if (!micAvailable) {
      statusEl.textContent = MIC_NEEDS_SECURE_PAGE;
      state.notice = MIC_NEEDS_SECURE_PAGE;
      return;
    }
    mic = { chunks: [], live: true };
    talkEl.classList.add("live");
    navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true } })
      .then(function (stream) {
        if (!mic || !mic.live) { stream.getTracks().forEach(function (t) { t.stop(); }); return; }
        var capture = openCapture(stream);
        var context = capture.context, source = capture.source;
        var processor = context.createScriptProcessor(CHUNK_SAMPLES, 1, 1);
        processor.onaudioprocess = function (event) {
          if (!mic) return;
          var input = event.inputBuffer.getChannelData(0);
          mic.chunks.push(toInt16(toUploadRate(new Float32Array(input), context.sampleRate)));
        };
        source.connect(processor);
        processor.connect(context.destination);
        mic.stop = function () {
          processor.disconnect();
          source.disconnect();
          stream.getTracks().forEach(function (t) { t.stop(); });
          context.close();
        };
      })
      .catch(function (error) {
        statusEl.textContent = "microphone unavailable: " + error.message;
        mic = null;
        talkEl.classList.remove("live");
      });
  }

  function stopTalking() {
    if (!mic) return;
    var finished = mic;
    mic = null;
    finished.live = false;
    talkEl.classList.remove("live");
    if (finished.stop) finished.stop();
    if (finished.chunks.length) sendUtterance(finished.chunks);
  }

  talkEl.addEventListener("mousedown", startTalking);
  talkEl.addEventListener("touchstart", function (e) { e.preventDefault(); startTalking(); });
  window.addEventListener("mouseup", stopTalking);
  window.addEventListener("touchend", stopTalking);
  window.addEventListener("keydown", function (e) { if (e.code === "Space" && !e.repeat) { e.preventDefault(); startTalking(); } });
  window.addEventListener("keyup", function (e) { if (e.code === "Space") stopTalking(); });

  // WAV drag-and-drop: decode in the browser, mix to mono, resample to 16 kHz, send as push-to-talk.
  function sendFile(file) {
    file.arrayBuffer().then(function (bytes) {
      var decoder = new AudioContext();
      return decoder.decodeAudioData(bytes).then(function (audio) {
        decoder.close();
        var frames = Math.ceil(audio.duration * UPLOAD_RATE);
        var offline = new OfflineAudioContext(1, Math.max(frames, 1), UPLOAD_RATE);
        var source = offline.createBufferSource();
        source.buffer = audio;
        source.connect(offline.destination);
        source.start();
        return offline.startRendering();
      });
    }).then(function (rendered) {
      var samples = toInt16(rendered.getChannelData(0));
      var chunks = [];
      for (var i = 0; i < samples.length; i += CHUNK_SAMPLES) chunks.push(samples.slice(i, i + CHUNK_SAMPLES));
      sendUtterance(chunks);
      statusEl.textContent = "sent " + file.name + " (" + (samples.length / UPLOAD_RATE).toFixed(1) + " s)";
    }).catch(function (error) {
      statusEl.textContent = "cannot decode " + file.name + ": " + error.message;
    });
  }

  state.sendFile = sendFile;  // for scripts and tests: send a File/Blob holding a WAV

  window.addEventListener("dragover", function (e) { e.preventDefault(); dropEl.style.display = "flex"; });
  window.addEventListener("dragleave", function (e) { if (e.target === dropEl) dropEl.style.display = "none"; });
  window.addEventListener("drop", function (e) {
    e.preventDefault();
    dropEl.style.display = "none";
    if (e.dataTransfer.files.length) sendFile(e.dataTransfer.files[0]);
  });

  if (!micAvailable) {
    talkEl.title = MIC_NEEDS_SECURE_PAGE;
    document.getElementById("hint").textContent = MIC_NEEDS_SECURE_PAGE;
  }

  // ---- start -------------------------------------------------------------------------------
  if (!state.threeLoaded) {
    showProblem("three.js is missing: the server found no three.min.js to serve at /three/. " +
      "Install the Debian package libjs-three (it provides /usr/share/javascript/three/) and reload.");
  } else {
    buildScene();
    render();
  }
  describe();
  connect();
})();
