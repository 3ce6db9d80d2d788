// The page's only script. The button (or Enter in the address box) asks the web client for
// GET /json or GET /json/ADDRESS; the web client asks the router with the same library call
// as `cargo run --example client` (geotracker::client::ask) and answers ip-api.com's JSON,
// which fills one field per reply field. A failure is shown in words, never as a blank card.
"use strict";

// The ids of the fields, which are ip-api.com's names for them.
const FIELDS = ["status", "message", "query", "country", "countryCode", "region", "regionName",
  "city", "zip", "lat", "lon", "timezone", "isp", "org", "as", "source"];

const form = document.getElementById("ask-form");
const box = document.getElementById("ip");
const button = document.getElementById("ask");
const note = document.getElementById("note");
const card = document.getElementById("card");

form.addEventListener("submit", (event) => {
  event.preventDefault();
  ask(box.value.trim());
});

// One question, one answer: the original's button.
async function ask(address) {
  button.disabled = true;
  card.dataset.state = "asking";
  note.className = "";
  note.textContent = address === ""
    ? "Asking the router where you are..."
    : `Asking the router where ${address} is...`;
  let reply;
  try {
    const response = await fetch(address === "" ? "/json" : "/json/" + encodeURIComponent(address),
      { cache: "no-store" });
    if (!response.ok) {
      throw new Error(`it answered HTTP ${response.status}: ${await response.text()}`);
    }
    reply = await response.json();
  } catch (error) {
    reply = { status: "fail", query: address,
      message: `no answer from the web client (is it still running?): ${error.message}` };
  }
  show(reply);
  button.disabled = false;
}

// Fills the card: every field, emptied first, so that nothing of an earlier answer stays.
function show(reply) {
  const failed = reply.status !== "success";
  for (const id of FIELDS) {
    const value = reply[id];
    document.getElementById(id).textContent = value === undefined || value === null ? "" : String(value);
  }
  const status = document.getElementById("status");
  status.className = failed ? "fail" : "success";
  if (failed && !reply.message) {
    document.getElementById("message").textContent = "the answer gave no reason";
  }
  document.getElementById("message-label").hidden = !failed;
  document.getElementById("message").hidden = !failed;
  const served = reply.router;
  document.getElementById("served").textContent =
    served ? `slot ${served.slot} (server ${served.server})` : "";
  document.getElementById("waited").textContent = !served ? ""
    : served.queue_position > 0
      ? `${served.waited_ms} ms, number ${served.queue_position} in the queue`
      : `${served.waited_ms} ms, a slot was free`;
  note.className = failed ? "failed" : "";
  note.textContent = failed
    ? "No location: the message below says why."
    : `Found ${reply.query || "you"}: ${[reply.city, reply.regionName, reply.country].filter(Boolean).join(", ")}.`;
  card.dataset.state = failed ? "fail" : "success";
  // Counted last, when the card is complete: the browser test waits for this number to grow.
  card.dataset.answers = String(Number(card.dataset.answers) + 1);
}
