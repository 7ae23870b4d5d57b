// aigc-gateway console: drag-and-drop and in-page results for the Labels page.
// Loaded from /console/static (the Content-Security-Policy allows no inline script).
// Without this file the forms still work: labeling downloads the file, inspect reloads the page.
"use strict";

(function () {
  function csrfOf(form) {
    var field = form.querySelector('input[name="csrf"]');
    return field ? field.value : "";
  }

  function filenameOf(response, fallback) {
    var header = response.headers.get("content-disposition") || "";
    var star = /filename\*=UTF-8''([^;]+)/i.exec(header);
    if (star) { return decodeURIComponent(star[1]); }
    var plain = /filename="([^"]+)"/i.exec(header);
    return plain ? plain[1] : fallback;
  }

  function post(url, form, data) {
    return fetch(url, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrfOf(form), "X-Console-Fragment": "1" }
    });
  }

  function showReport(html) {
    var target = document.getElementById("report");
    // The server renders (and escapes) this fragment; the CSP forbids inline script anyway.
    if (target) { target.innerHTML = html; }
  }

  function inspect(form, file, name) {
    var data = new FormData();
    data.append("file", file, name);
    return post("/console/labels/inspect", form, data)
      .then(function (r) { return r.text(); })
      .then(showReport);
  }

  function onLabel(form) {
    var input = form.querySelector('input[type="file"]');
    if (!input.files.length) { return; }
    var original = input.files[0];
    var data = new FormData(form);
    var link = document.getElementById("label-download");
    var box = document.getElementById("label-result");
    form.classList.add("busy");
    post(form.action, form, data).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (!response.ok || type.indexOf("text/html") === 0) {
        return response.text().then(showReport);
      }
      var name = filenameOf(response, original.name);
      return response.blob().then(function (blob) {
        if (link.href) { URL.revokeObjectURL(link.href); }
        link.href = URL.createObjectURL(blob);
        link.download = name;
        link.textContent = link.dataset.label || link.textContent;
        box.hidden = false;
        return inspect(form, blob, name);
      });
    }).finally(function () { form.classList.remove("busy"); });
  }

  function onInspect(form) {
    var input = form.querySelector('input[type="file"]');
    if (!input.files.length) { return; }
    form.classList.add("busy");
    inspect(form, input.files[0], input.files[0].name)
      .finally(function () { form.classList.remove("busy"); });
  }

  function wire(form, handler) {
    if (!form || !window.fetch) { return; }
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      handler(form);
    });
    form.addEventListener("dragover", function (event) {
      event.preventDefault();
      form.classList.add("over");
    });
    form.addEventListener("dragleave", function () { form.classList.remove("over"); });
    form.addEventListener("drop", function (event) {
      event.preventDefault();
      form.classList.remove("over");
      var input = form.querySelector('input[type="file"]');
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        handler(form);
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    wire(document.getElementById("label-form"), onLabel);
    wire(document.getElementById("inspect-form"), onInspect);
  });
})();
