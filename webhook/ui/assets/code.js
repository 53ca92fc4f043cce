// Progressive enhancement for the code step: digits only, paste of a whole
// caller number keeps its last N digits, auto-submit at N digits (not while
// a whole number is typed: see numberMode and PAUSE), live countdowns. The
// page works without this file (plain form POST).
(function () {
  "use strict";
  // A clock time the server can only give in UTC ("before 22:15:00 UTC",
  // 1060001: change the password by then; ui.ClockMarkup) is shown on the
  // reader's own clock, in the page's language, to the minute (never later
  // than the server's time); a day other than today is named. Without this
  // script, or without Intl, the UTC text stays.
  (function () {
    var times = document.querySelectorAll("time[data-cp-clock]");
    if (!times.length || !window.Intl || !Intl.DateTimeFormat) { return; }
    var lang = document.documentElement.lang || undefined, today = new Date().toDateString();
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      if (isNaN(at.getTime())) { continue; }
      var opts = { hour: "2-digit", minute: "2-digit" };
      if (at.toDateString() !== today) { opts.day = "numeric"; opts.month = "long"; }
      try { times[i].textContent = new Intl.DateTimeFormat(lang, opts).format(at); } catch (err) { /* the UTC text stays */ }
    }
  })();
  var step = document.querySelector("[data-cp-step]");
  if (!step) { return; }
  var n = parseInt(step.getAttribute("data-code-length"), 10) || 4;
  var input = step.querySelector("[data-cp-code]");
  var form = step.querySelector("[data-cp-form]");
  var msg = step.querySelector("[data-cp-msg]");
  var submitted = false;

  // An IME or a keyboard of another script types other digits: fullwidth
  // "４６１０" (and "＋", "（", "－"), Arabic-Indic "٤٦١٠". They read as the
  // ASCII ones (the server folds only the fullwidth, Arabic-Indic and
  // Persian ones, as the field's pattern takes them without this script);
  // cut as non-digits, what the user typed vanished from the field.
  function fold(s) {
    s = String(s || "");
    if (!/[^\x00-\x7f]/.test(s)) { return s; }
    if (s.normalize) { s = s.normalize("NFKC"); }
    try {
      // Unicode keeps each script's decimal digits as a run 0 to 9: a
      // digit's value is its distance from the run's start.
      var nd = new RegExp("\\p{Nd}", "u");
      return s.replace(new RegExp("\\p{Nd}", "gu"), function (c) {
        var cp = c.codePointAt(0), k = 0;
        while (k < 9 && nd.test(String.fromCodePoint(cp - k - 1))) { k++; }
        return String(k % 10);
      });
    } catch (err) { return s; } // no \p{…}: ASCII and NFKC's folds only
  }
  function digits(s) { return fold(s).replace(/\D+/g, ""); }

  function clock(sec) {
    sec = Math.max(0, Math.ceil(sec));
    var s = sec % 60, m = Math.floor(sec / 60) % 60, h = Math.floor(sec / 3600);
    var ss = (s < 10 ? "0" : "") + s;
    if (h > 0) { return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss; }
    return m + ":" + ss;
  }

  // "1 min 5 s" with the page's units: the server's FormatDuration.
  function duration(sec, units) {
    var u = String(units || "h|min|s").split("|");
    var s = Math.max(1, Math.ceil(sec));
    // As FormatDuration: past five minutes, whole minutes rounded up.
    if (s > 300) { s = Math.ceil(s / 60) * 60; }
    var h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60), r = s % 60;
    var parts = [];
    if (h > 0) { parts.push(h + " " + u[0]); }
    if (m > 0) { parts.push(m + " " + u[1]); }
    if (r > 0 && h === 0) { parts.push(r + " " + u[2]); }
    return parts.join(" ");
  }

  // A message naming a wait ("try again in 2 min") counts down with the
  // button. It is a live region: silent while it ticks (a reader would
  // announce every second), polite again for "available now".
  var msgWaitIn = msg ? parseInt(msg.getAttribute("data-wait-in"), 10) || 0 : 0;
  if (msgWaitIn > 0) { msg.setAttribute("aria-live", "off"); }
  function stopMsgWait() {
    if (msg && msgWaitIn > 0) { msg.setAttribute("aria-live", "polite"); }
    msgWaitIn = 0;
  }

  // One form at a time: a second post would replace the first's navigation
  // while its answer is awaited (a slow check, a slow provider), the server
  // seeing the two race and the page showing the answer to the wrong one.
  function resendSent() { return !!(resendForm && resendForm.getAttribute("data-sent")); }

  // The code is on its way, by itself or with "Confirm": the live status
  // says it is being checked (a slow check looked hung otherwise).
  function showChecking() {
    var btn = form.querySelector("[data-cp-submit]");
    if (btn) { btn.setAttribute("aria-busy", "true"); }
    if (msg && btn && btn.getAttribute("data-checking")) {
      stopMsgWait();
      msg.className = "cp-msg cp-msg-info";
      msg.textContent = btn.getAttribute("data-checking");
    }
    return btn;
  }

  function submitCode() {
    if (submitted || resendSent() || !form) { return; }
    submitted = true;
    noteAway(true);
    var btn = showChecking();
    if (btn) { btn.disabled = true; }
    // form.submit() skips the submit event and the disabled button's value,
    // which the server does not need; the code field is what counts.
    form.submit();
  }

  // A reload or a history navigation: the browser may put back what the
  // field held (Chromium after "load", Firefox while parsing).
  function restoredNavigation() {
    var nav = window.performance && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
    return !!nav && (nav.type === "back_forward" || nav.type === "reload");
  }

  function check() {
    if (!asNumber && input.value.length === n) { submitCode(); }
  }

  // The user types the whole calling number, whose first digits are not the
  // code: from a "+" or "(" typed before the code's digits are in, or in
  // national form, "8 495 …" / "7 999 …" (a 7 or 8 and then a separator), or
  // from its area code or local part, "495 123-…" / "123-46-10" (three
  // digits and a separator: the code's own digits are written "46-10", and
  // only a code of 7 digits has a group of three), or when typing goes on
  // past N digits (below). It stays as typed until the field is emptied or
  // replaced whole, and goes with "Confirm" (as its last digits); the note
  // says so.
  var asNumber = false;
  var note = step.querySelector("[data-cp-autosend]");
  function setNote(which) {
    if (note && note.getAttribute("data-" + which)) { note.textContent = note.getAttribute("data-" + which); }
  }
  function numberMode(on) {
    if (on === asNumber) { return; }
    asNumber = on;
    setNote(on ? "manual" : "auto");
  }

  // Typed without separators, a national number ("84951234567") begins with
  // four digits that look like a code. So N typed digits a number may begin
  // with (numberStart, below) go only after a pause with no more typing; a
  // key typed within it that goes on (a digit or a separator) means a
  // number, which then waits for "Confirm" (one typed over the whole field
  // is a new code). The note says so while it lasts (the note saying "at
  // its last digit", the page looked hung).
  var PAUSE = 2000;
  var pending = 0;
  function startPending() {
    pending = window.setTimeout(function () { pending = 0; check(); }, PAUSE);
    setNote("pause");
  }
  // quiet: the code or a new call is on its way, and the note goes (below).
  function cancelPending(quiet) {
    if (!pending) { return false; }
    window.clearTimeout(pending);
    pending = 0;
    if (!quiet) { setNote(asNumber ? "manual" : "auto"); }
    return true;
  }

  // Typed without separators, a Russian number begins with a trunk prefix
  // and an area or mobile code ("8 495 …", "7 999 …": those codes begin
  // with 3, 4, 8 or 9) or with the code alone ("495 123-45-67", "900 …").
  // The user types it group by group, "8|495|123|45|67" or "495|123|45|67",
  // and looks back at the phone only where a group ends. So N digits one of
  // those forms begins with wait: for "Confirm", with no timer, where a group
  // ends at N ("8495": the look back after it outlasts any timer); for the
  // pause where N falls inside a group ("4951", "9001": the group's next
  // digit comes within it, and the number goes on as one). Other codes
  // beginning with 7 or 8 wait the pause too, the rest go at their last
  // digit. Typing on makes them a number (below); the note says what to do.
  //
  // A local number typed without separators ("1234610" of +7 495 123-46-10)
  // is caught the same way when it begins with 3, 4, 7, 8 or 9: its fifth
  // digit is inside its second group ("123|46|10") and comes within the
  // pause. One beginning with 0, 1, 2, 5 or 6 goes as its first four digits
  // (a wrong code, an attempt), and is left so on purpose: a local part (a
  // mobile number's in particular) may begin with any digit, so catching it
  // means the pause for every code, where now half of them (those digits'
  // 5000 of 10000) go at their last digit; and the rhythm that tells it (a
  // look back after three digits, where a code "46-10" is read in twos) is
  // too unsure a sign to hold a code for.
  function numberStart(d) {
    var trunk = /^[78][3489]/.test(d), bare = /^[3489]/.test(d);
    var ends = function (groups) {
      for (var i = 0, at = 0; i < groups.length; i++) {
        at += groups[i];
        if (at === d.length) { return true; }
      }
      return false;
    };
    if (d.length < 10 && (trunk && ends([1, 3, 3, 2, 2]) || bare && ends([3, 3, 2, 2]))) { return "hold"; }
    return trunk || bare || /^[78]/.test(d) ? "pause" : "";
  }
  var held = false;
  function hold() {
    held = true;
    setNote("hold");
  }
  function cancelHold(quiet) {
    if (!held) { return false; }
    held = false;
    if (!quiet) { setNote(asNumber ? "manual" : "auto"); }
    return true;
  }
  // While a form's post is under way the note, about typing, goes out of
  // sight: put back to "checked at its last digit" it was announced (a live
  // region) with "Checking the code…" or a new call, and untrue; hidden, it
  // is out of the accessibility tree, not announced. A post given up brings
  // it back.
  function noteAway(away) {
    if (!note) { return; }
    if (!away) { setNote(asNumber ? "manual" : "auto"); }
    note.style.visibility = away ? "hidden" : ""; // its place kept: nothing below jumps
  }
  // A key typed (or an IME's text), not an autofill or a paste of a whole
  // number: those come as one input event and go as their last digits. So
  // does a keyboard's suggestion (a clipboard chip, a one-time code), an
  // insertText of more than one character.
  function typedKey(e) {
    var t = e && e.inputType;
    if (t === "insertText") { return !e.data || e.data.length <= 1; }
    return t === "insertCompositionText";
  }

  if (input && form) {
    // Say that the last digit sends the code, before any is typed (only
    // with this script: without it the user presses "Confirm").
    // It is a polite live region: what it says changes as the user types
    // (a number: press "Confirm"; a code in its pause: checked in a moment).
    if (note) {
      note.hidden = false;
      note.setAttribute("aria-live", "polite");
      input.setAttribute("aria-describedby", (input.getAttribute("aria-describedby") || "") + " " + note.id);
    }
    input.addEventListener("paste", function (e) {
      var data = (e.clipboardData || window.clipboardData);
      if (!data) { return; }
      var d = digits(data.getData("text"));
      if (!d) { e.preventDefault(); return; }
      if (asNumber && d.length < n) { return; } // a piece of the number: as typed
      // Digits held for "Confirm" or in their pause begin a number (typing
      // on makes them one): a piece pasted after them goes on with it, as
      // typed, rather than being cut to N digits (the held ones) and sent.
      // One pasted over all of them replaces them (below).
      var all = input.selectionStart === 0 && input.selectionEnd === input.value.length;
      if ((held || pending) && d.length < n && !all) {
        cancelHold(true);
        cancelPending(true);
        numberMode(true);
        return;
      }
      e.preventDefault();
      cancelPending();
      cancelHold();
      numberMode(false);
      // A pasted caller number ("+7 495 123-46-10") carries the code at its end;
      // a piece of a code replaces the selection, as a paste does.
      if (d.length >= n) {
        input.value = d.slice(-n);
      } else {
        var v = input.value, from = input.selectionStart, to = input.selectionEnd;
        if (from == null || to == null) { from = to = v.length; }
        var caret = Math.min(digits(v.slice(0, from) + d).length, n);
        input.value = digits(v.slice(0, from) + d + v.slice(to)).slice(0, n);
        try { input.setSelectionRange(caret, caret); } catch (err) { /* ignore */ }
      }
      input.removeAttribute("aria-invalid");
      check();
    });
    // An IME's text is the field's only while it is composed: rewritten
    // then (folded, cut to digits), the composition broke and what was
    // typed vanished. So text that needs folding is read once composed
    // (compositionend, after the input events that carry it), as typed
    // text. ASCII digits are read as they come: an Android keyboard may
    // compose a word of them and end it only at a space, Enter or a blur.
    // A pause or a hold a deferred composition began in ends (the timer
    // must not send the field mid-composition) and counts as typing on.
    var composing = false, carried = false;
    input.addEventListener("compositionend", function (e) {
      if (!composing) { return; }
      composing = false;
      typed({ inputType: "insertCompositionText", data: e.data });
    });
    input.addEventListener("input", function (e) {
      if (e.isComposing && fold(input.value) !== input.value) {
        composing = true;
        carried = cancelHold(true) || carried;
        carried = cancelPending(true) || carried;
        return;
      }
      composing = false;
      typed(e);
    });
    function typed(e) {
      // Both run: either may be on.
      var wasPending = cancelHold() || carried;
      wasPending = cancelPending() || wasPending;
      if (carried) { setNote(asNumber ? "manual" : "auto"); } // what it said is re-decided below
      carried = false;
      var v = fold(input.value), d = digits(v);
      if (v !== input.value) { input.value = v; }
      input.removeAttribute("aria-invalid");
      if (!d && !/[+(]/.test(v)) { // emptied: start afresh
        numberMode(false);
        if (v !== "") { input.value = ""; }
        return;
      }
      // The whole field replaced (all selected and typed over, an autofill):
      // a new start, not more of the number.
      if (asNumber && (!e.inputType || e.inputType === "insertReplacementText" || e.inputType === "insertText" && v === fold(e.data))) {
        numberMode(false);
      }
      if (asNumber || /[+(]/.test(v) && d.length < n || typedKey(e) && /^[78][\s\u00a0.\-]/.test(v) ||
          typedKey(e) && n < 7 && /^\d{3,}[\s\u00a0\u2009\u202f.\-]/.test(v) ||
          typedKey(e) && (d.length > n || wasPending && /\D/.test(v))) {
        numberMode(true);
        return;
      }
      if (d.length > n) { d = d.slice(-n); } // autofill of a full number
      if (d !== v) { input.value = d; }
      var start = d.length === n && typedKey(e) ? numberStart(d) : "";
      if (start === "hold") {
        hold();
        return;
      }
      if (start === "pause") {
        startPending();
        return;
      }
      check();
    }
    form.addEventListener("submit", function (e) {
      if (submitted || resendSent()) { e.preventDefault(); return; }
      cancelPending(true);
      cancelHold(true);
      submitted = true;
      noteAway(true);
      var typed = digits(input.value);
      if (asNumber && typed.length >= n) { input.value = typed.slice(-n); }
      showChecking();
    });
    // Nothing is sent that the user did not type or paste here. A value in
    // the field as the script starts was put back by the browser (Firefox
    // does so while parsing, on "back" or a reload: the code already sent),
    // so it is cleared; or, on a first visit, typed before the script came,
    // so it waits for "Confirm" (the note says so).
    if (restoredNavigation()) {
      input.value = "";
    } else if (input.value) {
      numberMode(true);
    }
    // A page left within the pause and kept in the back/forward cache would
    // resume its timer when brought back, and send with nothing typed. So
    // the code is held for "Confirm" instead, and the note says so (it said
    // "at its last digit" over a code typed whole and not sent).
    window.addEventListener("pagehide", function () {
      if (cancelPending(true)) { hold(); }
    });
  }

  // autofocus is ignored after some navigations; ask again (the code field,
  // the resend button or the message: whichever the page chose).
  var auto = step.querySelector("[autofocus]");
  if (auto && document.activeElement !== auto) { try { auto.focus(); } catch (err) { /* ignore */ } }

  var started = Date.now();
  function elapsed() { return (Date.now() - started) / 1000; }

  var resend = step.querySelector("[data-cp-resend]");
  var expiry = step.querySelector("[data-cp-expiry]");
  var resendIn = resend ? parseInt(resend.getAttribute("data-resend-in"), 10) || 0 : 0;
  var expiresIn = expiry ? parseInt(expiry.getAttribute("data-expires-in"), 10) || 0 : 0;
  var resendForm = step.querySelector("[data-cp-resend-form]");
  if (resendForm) {
    resendForm.addEventListener("submit", function (e) {
      if (resendSent() || submitted) { e.preventDefault(); return; }
      // A code in its pause would post its form while the new call's answer
      // is awaited, and that navigation would replace this one.
      cancelPending(true);
      cancelHold(true);
      resendForm.setAttribute("data-sent", "1");
      noteAway(true);
      if (resend) { resend.setAttribute("aria-busy", "true"); }
    });
  }

  // Chromium keeps even these no-store pages in its back/forward cache and
  // restores them as they were left: a step left by its own form post came
  // back sent, disabled and "checking" for ever. Load it afresh instead (a
  // GET: nothing is posted again), showing how things stand now.
  window.addEventListener("pageshow", function (e) {
    if (e.persisted && (submitted || (resendForm && resendForm.getAttribute("data-sent")))) {
      window.location.replace(window.location.href);
      return;
    }
    // Loaded again by "back" (or a reload, in some browsers), the browser
    // puts back what the field held (by now): the code already sent. Typing
    // on after it made a code of both's last digits, a wrong one costing
    // an attempt.
    if (input && !submitted && restoredNavigation()) {
      input.value = "";
      cancelHold(); // held as the page was left (pagehide): nothing now
      numberMode(false);
    }
  });

  function tick() {
    var t = elapsed();
    var more = false;
    if (resend && resendIn > 0) {
      var left = resendIn - t;
      if (left > 0) {
        resend.disabled = true;
        resend.setAttribute("aria-disabled", "true");
        resend.textContent = resend.getAttribute("data-wait-label").replace("{t}", clock(left));
        more = true;
      } else {
        resend.disabled = false;
        resend.removeAttribute("aria-disabled");
        resend.textContent = resend.getAttribute("data-label");
        resendIn = 0;
      }
    }
    if (msg && msgWaitIn > 0) {
      var wait = msgWaitIn - t;
      if (wait > 0) {
        var text = msg.getAttribute("data-label").replace("{t}", duration(wait, msg.getAttribute("data-units")));
        if (msg.textContent !== text) { msg.textContent = text; }
        more = true;
      } else {
        stopMsgWait();
        msg.className = "cp-msg cp-msg-info";
        msg.textContent = msg.getAttribute("data-now");
      }
    }
    if (expiry && expiresIn > 0) {
      var rest = expiresIn - t;
      if (rest > 0) {
        expiry.textContent = expiry.getAttribute("data-label").replace("{t}", clock(rest));
        more = true;
      } else {
        expiry.textContent = expiry.getAttribute("data-expired");
        expiresIn = 0;
      }
    }
    if (more) { window.setTimeout(tick, 1000 - (Date.now() - started) % 1000); }
  }
  tick();

  // While the code can be typed, ask the service now and then whether the
  // call reached the phone. If it did not, no code will come: say so and
  // offer a new call at once (the service lifts the wait for it). Anything
  // else (it rang, the code was used or expired, an error) ends the asking
  // and leaves the page as it is; the form still works as before.
  var statusURL = step.getAttribute("data-status-url");
  var polls = 0;
  // The answer follows the flow's current challenge: one naming another
  // than this page's means a call asked for in another tab took this one's
  // place. The page then loads that challenge, as the tab that asked shows
  // it (its code field, or that its call did not reach the phone); not
  // over digits being typed, which a reload would lose: the poll asks on,
  // and loads it once the field is empty (a code posted meanwhile is tried
  // on the current challenge anyway).
  var followURL = step.getAttribute("data-follow-url"), shownID = step.getAttribute("data-challenge");
  function movedTo(c) {
    return followURL && shownID && c && typeof c.challenge_id === "string" && c.challenge_id !== "" &&
      c.challenge_id !== shownID ? c.challenge_id : "";
  }
  function typing() { return !!(input && input.value) || !!pending || held || !!composing; }
  function follow(id) { window.location.replace(followURL + encodeURIComponent(id)); }
  function notDelivered() {
    stopMsgWait();
    cancelPending(); // a code in its pause would post the form hidden here
    if (msg) {
      msg.className = "cp-msg cp-msg-error";
      msg.textContent = step.getAttribute("data-not-delivered");
    }
    step.setAttribute("data-state", "not_delivered");
    var lead = step.querySelector("#cp-lead");
    if (lead) { lead.hidden = true; }
    if (form) { form.hidden = true; }
    expiresIn = 0;
    if (resend) {
      resendIn = 0;
      resend.disabled = false;
      resend.removeAttribute("aria-disabled");
      resend.textContent = resend.getAttribute("data-label");
      resend.className = resend.className.replace("cp-btn-secondary", "cp-btn-primary");
      try { resend.focus(); } catch (err) { /* ignore */ }
    }
  }
  // polling: a chain of asks is under way (one at a time, also when a post
  // given up on starts it again).
  var polling = false;
  function pollStatus() {
    if (submitted || polls >= 40 || elapsed() >= expiresIn ||
        (resendForm && resendForm.getAttribute("data-sent"))) { polling = false; return; }
    polls++;
    window.fetch(statusURL, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        var moved = movedTo(c);
        if (moved && !submitted && !resendSent()) {
          if (!typing()) {
            polling = false;
            follow(moved);
            return;
          }
          if (c.state !== "pending" || c.call_status !== "not_delivered") {
            window.setTimeout(pollStatus, 3000); // loaded once the field is empty
            return;
          }
        }
        if (c && !submitted && c.state === "pending" && c.call_status === "pending") {
          window.setTimeout(pollStatus, 3000);
          return;
        }
        polling = false;
        if (c && !submitted && c.state === "pending" && c.call_status === "not_delivered") { notDelivered(); }
      })
      .catch(function () { polling = false; /* offline or refused: the page stays as it is */ });
  }
  function startPolling() {
    if (polling || !statusURL || !form || form.hidden || !(expiresIn > 0) || !window.fetch) { return; }
    polling = true;
    window.setTimeout(pollStatus, 3000);
  }
  startPolling();

  // The poll ends once the call rang (or did not reach the phone), long
  // before another tab may ask for a new call. So a page coming back into
  // view (its tab brought to the front, its window focused: where the user
  // looks next) asks once where the flow is, and follows it as the poll
  // does. Nothing is asked while the poll runs, a post is on its way or
  // digits are typed.
  var followStatusURL = step.getAttribute("data-follow-status-url"), asking = false;
  function askOnReturn() {
    if (asking || polling || submitted || resendSent() || typing() || !followStatusURL || !followURL || !window.fetch ||
        document.visibilityState === "hidden") { return; }
    asking = true;
    window.fetch(followStatusURL, { credentials: "same-origin", cache: "no-store", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (c) {
        asking = false;
        var moved = movedTo(c);
        if (moved && !submitted && !resendSent() && !typing()) { follow(moved); }
      })
      .catch(function () { asking = false; /* offline or refused: the page stays as it is */ });
  }
  document.addEventListener("visibilitychange", askOnReturn);
  window.addEventListener("focus", askOnReturn);

  // Stop or Esc while a form's post is awaited leaves this page in place
  // and the post given up: both forms stayed refused ("one form at a time")
  // until a reload. The Navigation API says when a navigation is given up
  // (navigateerror, also when another replaces it: then this page goes
  // anyway); without it, Esc, which stops loading, is the sign. The code
  // may or may not have reached the service: the field keeps it, selected,
  // so "Confirm" sends it again and typing replaces it.
  function postGivenUp() {
    if (!submitted && !resendSent()) { return; }
    submitted = false;
    var btn = form && form.querySelector("[data-cp-submit]");
    if (btn) { btn.disabled = false; btn.removeAttribute("aria-busy"); }
    if (resendForm) { resendForm.removeAttribute("data-sent"); }
    if (resend) { resend.removeAttribute("aria-busy"); }
    // "Checking the code…" is no longer true, and what it replaced was
    // about the post before.
    if (msg && btn && msg.textContent === btn.getAttribute("data-checking")) {
      msg.className = "cp-msg";
      msg.textContent = "";
    }
    noteAway(false);
    if (input && form && !form.hidden) {
      try { input.focus(); input.select(); } catch (err) { /* ignore */ }
    }
    startPolling();
  }
  if (window.navigation && window.navigation.addEventListener) {
    window.navigation.addEventListener("navigateerror", postGivenUp);
  } else {
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape" || e.key === "Esc") { postGivenUp(); }
    });
  }
})();
