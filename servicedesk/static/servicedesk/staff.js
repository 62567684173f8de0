// Small enhancements for the staff pages; every page works without them (the CSP allows no inline JS).
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Filters apply as soon as a menu changes.
  document.querySelectorAll("form[data-autosubmit] select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.submit(); });
  });

  // A canned reply fills the composer in place (without JS the form reloads the page with it).
  document.querySelectorAll("form[data-canned]").forEach(function (form) {
    var select = form.querySelector("select");
    var body = document.getElementById("composer-body");
    if (!select || !body) { return; }
    var fill = function (event) {
      if (event) { event.preventDefault(); }
      var option = select.options[select.selectedIndex];
      if (option && option.dataset.body) { body.value = option.dataset.body; body.focus(); }
    };
    select.addEventListener("change", function () { fill(null); });
    form.addEventListener("submit", fill);
  });

  // The catalog-action form shows only the parameter the chosen action takes.
  var params = { grant_group_access: "group", install_software: "software" };
  document.querySelectorAll("form[data-action-form]").forEach(function (form) {
    var action = form.querySelector("select[name=action]");
    var sync = function () {
      var wanted = params[action.value] || "";
      form.querySelectorAll("[data-param]").forEach(function (element) {
        element.hidden = element.dataset.param !== wanted;
      });
    };
    action.addEventListener("change", sync);
    sync();
  });
})();
